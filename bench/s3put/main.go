// Command s3put uploads one file to S3 with the transfer manager, the way
// redkit's storage/s3 backend does (parts of 16 MiB, 4 in flight, a CRC32
// checksum per part, path-style addressing), and nothing else: the raw
// upload that bench/backup.sh measures redkit backup against.
//
//	s3put FILE s3://bucket/key
//
// The endpoint and credentials come from the environment:
// AWS_ENDPOINT_URL_S3 (else AWS_ENDPOINT_URL), AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY, AWS_REGION (default us-east-1). It prints
// "bytes=N seconds=S MiB/s=R" on stdout once the object is complete.
package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	tmtypes "github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/logging"
)

// The settings of storage/s3.New's defaults.
const (
	partSize    = 16 << 20
	concurrency = 4
	retries     = 5
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: s3put FILE s3://bucket/key")
		os.Exit(2)
	}
	if err := run(context.Background(), os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "s3put:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, file, dest string) error {
	u, err := url.Parse(dest)
	if err != nil || u.Scheme != "s3" || u.Host == "" || strings.Trim(u.Path, "/") == "" {
		return fmt.Errorf("%q: want s3://bucket/key", dest)
	}
	bucket, key := u.Host, strings.TrimPrefix(u.Path, "/")

	endpoint := os.Getenv("AWS_ENDPOINT_URL_S3")
	if endpoint == "" {
		endpoint = os.Getenv("AWS_ENDPOINT_URL")
	}
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRetryMaxAttempts(retries))
	if err != nil {
		return fmt.Errorf("s3 configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.Logger = logging.Nop{}
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
		o.UsePathStyle = true
	})
	tm := transfermanager.New(client, func(o *transfermanager.Options) {
		o.PartSizeBytes = partSize
		o.MultipartUploadThreshold = partSize
		o.Concurrency = concurrency
		o.ChecksumAlgorithm = tmtypes.ChecksumAlgorithmCrc32
		o.FailTimeout = 30 * time.Second
	})

	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	start := time.Now()
	if _, err := tm.UploadObject(ctx, &transfermanager.UploadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: f}); err != nil {
		return fmt.Errorf("upload %s to %s: %w", file, dest, err)
	}
	secs := time.Since(start).Seconds()
	fmt.Printf("bytes=%d seconds=%.3f MiB/s=%.1f\n", st.Size(), secs, float64(st.Size())/(1<<20)/secs)
	return nil
}
