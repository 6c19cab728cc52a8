package s3

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/redkit/redkit/internal/s3test"
	"github.com/redkit/redkit/storage"
	"github.com/redkit/redkit/storage/storagetest"
)

// TestBackend runs the storage suite against a real versitygw, each test
// under its own prefix of one bucket, with 5 MiB parts so that the big
// object goes in three.
func TestBackend(t *testing.T) {
	srv := s3test.Start(t, "backups")
	srv.Env(t)
	n := 0
	var cur *Backend
	storagetest.Run(t, func(t *testing.T) storage.Backend {
		n++
		b, err := New(context.Background(), "s3://backups/suite"+string(rune('a'+n)), Options{PartSize: 5 << 20})
		if err != nil {
			t.Fatal(err)
		}
		cur = b
		return b
	}, storagetest.Options{Pending: func(t *testing.T) int {
		out, err := cur.client.ListMultipartUploads(context.Background(), &awss3.ListMultipartUploadsInput{Bucket: aws.String("backups")})
		if err != nil {
			t.Fatal(err)
		}
		return len(out.Uploads)
	}})
}

// TestCleanupAbortsDeadUploads: a multipart upload a dead process left is
// aborted by Cleanup, and only under its prefix and before the time given.
func TestCleanupAbortsDeadUploads(t *testing.T) {
	srv := s3test.Start(t, "bkt")
	srv.Env(t)
	ctx := context.Background()
	b, err := New(ctx, "s3://bkt/p", Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"p/x/half", "other/half"} {
		if _, err := b.client.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String("bkt"), Key: aws.String(k)}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := b.Cleanup(ctx, "x/", time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Errorf("Cleanup of uploads begun after the time: %d, %v", n, err)
	}
	if n, err := b.Cleanup(ctx, "x/", time.Now().Add(time.Minute)); err != nil || n != 1 {
		t.Errorf("Cleanup: %d, %v; want 1", n, err)
	}
	out, _ := b.client.ListMultipartUploads(ctx, &awss3.ListMultipartUploadsInput{Bucket: aws.String("bkt")})
	if len(out.Uploads) != 1 || aws.ToString(out.Uploads[0].Key) != "other/half" {
		t.Errorf("uploads left: %+v", out.Uploads)
	}
}

// TestWrongCredentials: a clear error that names the problem, and never
// the secret.
func TestWrongCredentials(t *testing.T) {
	srv := s3test.Start(t, "bkt")
	srv.Env(t)
	secret := "wrong-secret-" + strings.Repeat("x", 20)
	t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
	ctx := context.Background()
	b, err := New(ctx, "s3://bkt/p", Options{Retries: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Put(ctx, "k", bytes.NewReader([]byte("v")))
	if err == nil || !strings.Contains(err.Error(), "refused the credentials") || strings.Contains(err.Error(), secret) {
		t.Errorf("Put with a wrong secret: %v", err)
	}
	if _, err := b.List(ctx, ""); err == nil || strings.Contains(err.Error(), secret) {
		t.Errorf("List with a wrong secret: %v", err)
	}
}

// TestMissingBucket says so.
func TestMissingBucket(t *testing.T) {
	srv := s3test.Start(t)
	srv.Env(t)
	b, err := New(context.Background(), "s3://nobucket/p", Options{Retries: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.List(context.Background(), ""); err == nil || !strings.Contains(err.Error(), `bucket "nobucket" does not exist`) {
		t.Errorf("List: %v", err)
	}
}

func TestParseURL(t *testing.T) {
	for in, want := range map[string][2]string{"s3://b": {"b", ""}, "s3://b/": {"b", ""}, "s3://b/p/q/": {"b", "p/q/"}, "s3://bkt/p": {"bkt", "p/"}} {
		bk, p, err := ParseURL(in)
		if err != nil || bk != want[0] || p != want[1] {
			t.Errorf("ParseURL(%q) = %q %q %v", in, bk, p, err)
		}
	}
	for _, bad := range []string{"s3:///p", "file:///x", "s3://k:s@b/p", "s3://b/a//c"} {
		if _, _, err := ParseURL(bad); err == nil {
			t.Errorf("ParseURL(%q): no error", bad)
		} else if strings.Contains(err.Error(), ":s@") {
			t.Errorf("ParseURL(%q): secret in %v", bad, err)
		}
	}
}

// cancelAfterCreate is a transport that lets CreateMultipartUpload
// reach the store, then cancels the request's context before its reply
// is read: an interrupt that comes while the reply is on its way.
type cancelAfterCreate struct {
	cancel context.CancelFunc
}

func (c *cancelAfterCreate) Do(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err == nil && req.Method == http.MethodPost && req.URL.Query().Has("uploads") {
		resp.Body.Close()
		c.cancel()
		return nil, context.Canceled
	}
	return resp, err
}

// TestPutInterruptedAtCreate: a Put interrupted after the store began
// its multipart upload but before the reply came leaves no pending
// upload (the transfer manager never learnt its id to abort it).
func TestPutInterruptedAtCreate(t *testing.T) {
	srv := s3test.Start(t, "bkt")
	srv.Env(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b, err := New(context.Background(), "s3://bkt/p", Options{PartSize: 5 << 20, httpClient: &cancelAfterCreate{cancel: cancel}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(ctx, "x/big", bytes.NewReader(make([]byte, 11<<20))); err == nil {
		t.Fatal("an interrupted Put succeeded")
	}
	out, err := b.client.ListMultipartUploads(context.Background(), &awss3.ListMultipartUploadsInput{Bucket: aws.String("bkt")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Uploads) != 0 {
		t.Errorf("%d multipart uploads left: %+v", len(out.Uploads), out.Uploads)
	}
}
