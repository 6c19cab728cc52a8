package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	tmtypes "github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/logging"

	"github.com/redkit/redkit/internal/countio"
	"github.com/redkit/redkit/storage"
)

// Options configure a Backend. The zero value works with AWS itself.
type Options struct {
	// Endpoint is the store's URL (http://127.0.0.1:7070); empty: the
	// environment's (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL), else AWS.
	Endpoint string
	// PathStyle forces path-style addressing (bucket in the path); it is
	// on by itself for an IP address or localhost endpoint.
	PathStyle bool
	// Region overrides the SDK's; default from the chain, else us-east-1.
	Region string
	// PartSize is the size of an upload's parts (default 16 MiB, at least
	// 5 MiB); an object has at most 10,000 parts.
	PartSize int64
	// Concurrency is how many parts upload at once (default 4).
	Concurrency int
	// Retries is how many attempts a request gets (default 5).
	Retries int

	// httpClient replaces the SDK's (tests: a transport that fails).
	httpClient aws.HTTPClient
}

// Backend stores objects under a bucket's prefix.
type Backend struct {
	client *s3.Client
	tm     *transfermanager.Client
	bucket string
	prefix string // "" or ending in "/"
	url    string
}

var (
	_ storage.Backend = (*Backend)(nil)
	_ storage.Cleaner = (*Backend)(nil)
)

// ParseURL splits s3://bucket/prefix.
func ParseURL(raw string) (bucket, prefix string, err error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "s3" || u.Host == "" {
		return "", "", fmt.Errorf("not an s3://bucket/prefix URL: %q", raw)
	}
	if u.User != nil {
		return "", "", fmt.Errorf("s3 URL %s: credentials do not go in the URL: use AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile", u.Redacted())
	}
	prefix = strings.Trim(u.Path, "/")
	if prefix != "" {
		if err := storage.CheckKey(prefix); err != nil {
			return "", "", fmt.Errorf("s3 URL %s: prefix: %w", raw, err)
		}
		prefix += "/"
	}
	return u.Host, prefix, nil
}

// New returns the backend of an s3://bucket/prefix URL.
func New(ctx context.Context, rawURL string, opts Options) (*Backend, error) {
	bucket, prefix, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	if opts.Retries <= 0 {
		opts.Retries = 5
	}
	if opts.PartSize <= 0 {
		opts.PartSize = 16 << 20
	}
	opts.PartSize = max(opts.PartSize, 5<<20)
	if opts.Concurrency <= 0 {
		opts.Concurrency = 4
	}
	// The SDK's own logger writes text to stderr (an instance-metadata
	// fallback's warning, for one): the package prints nothing, and the
	// command's stderr may be JSON lines only.
	lo := []func(*config.LoadOptions) error{config.WithRetryMaxAttempts(opts.Retries), config.WithLogger(logging.Nop{})}
	if opts.Region != "" {
		lo = append(lo, config.WithRegion(opts.Region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, lo...)
	if err != nil {
		return nil, fmt.Errorf("s3 configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	endpoint := opts.Endpoint
	if endpoint == "" {
		endpoint = os.Getenv("AWS_ENDPOINT_URL_S3")
	}
	if endpoint == "" {
		endpoint = os.Getenv("AWS_ENDPOINT_URL")
	}
	pathStyle := opts.PathStyle
	if endpoint != "" {
		eu, err := url.Parse(endpoint)
		if err != nil || eu.Scheme == "" || eu.Host == "" {
			return nil, fmt.Errorf("s3 endpoint %q: want a URL such as http://127.0.0.1:7070", endpoint)
		}
		if h := eu.Hostname(); h == "localhost" || net.ParseIP(h) != nil {
			pathStyle = true
		}
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		// Not on stderr: a store that gives no checksum for a ranged or
		// multipart read is normal, and redkit checks its own SHA-256.
		o.DisableLogOutputChecksumValidationSkipped = true
		o.Logger = logging.Nop{}
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
		o.UsePathStyle = pathStyle
		if opts.httpClient != nil {
			o.HTTPClient = opts.httpClient
		}
	})
	tm := transfermanager.New(client, func(o *transfermanager.Options) {
		o.PartSizeBytes = opts.PartSize
		o.MultipartUploadThreshold = opts.PartSize
		o.Concurrency = opts.Concurrency
		o.ChecksumAlgorithm = tmtypes.ChecksumAlgorithmCrc32
		// Abort with a fresh context when the upload's was cancelled.
		o.FailTimeout = 30 * time.Second
	})
	return &Backend{client: client, tm: tm, bucket: bucket, prefix: prefix, url: "s3://" + bucket + "/" + prefix}, nil
}

// URL is s3://bucket/prefix/.
func (b *Backend) URL() string { return b.url }

func (b *Backend) key(key string) (string, error) {
	if err := storage.CheckKey(key); err != nil {
		return "", err
	}
	return b.prefix + key, nil
}

// wrap turns the SDK's errors into the package's: a missing object is
// fs.ErrNotExist, a missing bucket says so.
func (b *Backend) wrap(op, key string, err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NoSuchKey", "NotFound":
			return fmt.Errorf("%s %s%s: %w", op, b.url, key, fs.ErrNotExist)
		case "NoSuchBucket":
			return fmt.Errorf("%s %s%s: bucket %q does not exist: create it first (%w)", op, b.url, key, b.bucket, err)
		case "InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidToken", "ExpiredToken":
			return fmt.Errorf("%s %s%s: the store refused the credentials (%s): check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY or AWS_PROFILE: %w", op, b.url, key, ae.ErrorCode(), err)
		}
	}
	// A 403 whose body could not be read (the store closed the
	// connection before the SDK read its error document: versitygw does
	// so when it refuses a request before reading its body) has no
	// error code, only the status.
	var hs interface{ HTTPStatusCode() int }
	if errors.As(err, &hs) && hs.HTTPStatusCode() == http.StatusForbidden {
		return fmt.Errorf("%s %s%s: the store refused the credentials (HTTP 403): check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY or AWS_PROFILE: %w", op, b.url, key, err)
	}
	return fmt.Errorf("%s %s%s: %w", op, b.url, key, err)
}

// Put uploads r in parts; the object appears when the upload completes.
func (b *Backend) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	k, err := b.key(key)
	if err != nil {
		return 0, err
	}
	cr := countio.NewReader(r)
	_, err = b.tm.UploadObject(ctx, &transfermanager.UploadObjectInput{Bucket: aws.String(b.bucket), Key: aws.String(k), Body: cr})
	if err != nil {
		// The transfer manager aborts the upload it knows of; not one
		// whose CreateMultipartUpload failed on this side only (the
		// context cancelled while its reply was on the way), nor one
		// whose abort failed. The key is this run's alone.
		b.abortUploads(ctx, k)
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return cr.N.Load(), b.wrap("put", key, err)
	}
	return cr.N.Load(), nil
}

// abortUploads aborts the pending multipart uploads of the key k (with
// the prefix), with a context of its own: ctx may be cancelled. It
// looks again after a while, as AWS advises: a part whose request was
// cut short here may still be finishing on the store, and a store may
// keep its upload then (versitygw re-creates the upload's directory).
func (b *Backend) abortUploads(ctx context.Context, k string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	for _, wait := range []time.Duration{0, 300 * time.Millisecond, time.Second} {
		time.Sleep(wait)
		out, err := b.client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(b.bucket), Prefix: aws.String(k)})
		if err != nil {
			return // the next run's Cleanup aborts it
		}
		for _, u := range out.Uploads {
			if aws.ToString(u.Key) == k {
				_, _ = b.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(b.bucket), Key: u.Key, UploadId: u.UploadId})
			}
		}
	}
}

// Get reads a range of the object.
func (b *Backend) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	k, err := b.key(key)
	if err != nil {
		return nil, err
	}
	in := &s3.GetObjectInput{Bucket: aws.String(b.bucket), Key: aws.String(k)}
	switch {
	case length == 0:
		// An empty range: S3 has no way to ask for one.
		if _, err := b.Stat(ctx, key); err != nil {
			return nil, err
		}
		return io.NopCloser(strings.NewReader("")), nil
	case offset > 0 && length < 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", offset))
	case length > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", offset, offset+length-1))
	}
	out, err := b.client.GetObject(ctx, in)
	if err != nil {
		return nil, b.wrap("get", key, err)
	}
	return out.Body, nil
}

// Stat is HeadObject.
func (b *Backend) Stat(ctx context.Context, key string) (storage.ObjectInfo, error) {
	k, err := b.key(key)
	if err != nil {
		return storage.ObjectInfo{}, err
	}
	out, err := b.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(b.bucket), Key: aws.String(k)})
	if err != nil {
		return storage.ObjectInfo{}, b.wrap("stat", key, err)
	}
	oi := storage.ObjectInfo{Key: key, Size: aws.ToInt64(out.ContentLength)}
	if out.LastModified != nil {
		oi.ModTime = *out.LastModified
	}
	return oi, nil
}

// List pages through ListObjectsV2.
func (b *Backend) List(ctx context.Context, prefix string) ([]storage.ObjectInfo, error) {
	var out []storage.ObjectInfo
	p := s3.NewListObjectsV2Paginator(b.client, &s3.ListObjectsV2Input{Bucket: aws.String(b.bucket), Prefix: aws.String(b.prefix + prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, b.wrap("list", prefix, err)
		}
		for _, o := range page.Contents {
			oi := storage.ObjectInfo{Key: strings.TrimPrefix(aws.ToString(o.Key), b.prefix), Size: aws.ToInt64(o.Size)}
			if o.LastModified != nil {
				oi.ModTime = *o.LastModified
			}
			out = append(out, oi)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// Delete is DeleteObject (which succeeds on a missing key).
func (b *Backend) Delete(ctx context.Context, key string) error {
	k, err := b.key(key)
	if err != nil {
		return err
	}
	if _, err := b.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(b.bucket), Key: aws.String(k)}); err != nil {
		if errors.Is(b.wrap("", "", err), fs.ErrNotExist) {
			return nil
		}
		return b.wrap("delete", key, err)
	}
	return nil
}

// Cleanup aborts the multipart uploads under prefix begun before the
// time given: those of a process that died mid-upload.
func (b *Backend) Cleanup(ctx context.Context, prefix string, before time.Time) (int, error) {
	n := 0
	in := &s3.ListMultipartUploadsInput{Bucket: aws.String(b.bucket), Prefix: aws.String(b.prefix + prefix)}
	for {
		out, err := b.client.ListMultipartUploads(ctx, in)
		if err != nil {
			return n, b.wrap("list uploads", prefix, err)
		}
		for _, u := range out.Uploads {
			if u.Initiated != nil && !u.Initiated.Before(before) {
				continue
			}
			if _, err := b.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(b.bucket), Key: u.Key, UploadId: u.UploadId}); err != nil {
				var nsu *types.NoSuchUpload
				if !errors.As(err, &nsu) {
					return n, b.wrap("abort upload", strings.TrimPrefix(aws.ToString(u.Key), b.prefix), err)
				}
			}
			n++
		}
		if !aws.ToBool(out.IsTruncated) {
			return n, nil
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}
