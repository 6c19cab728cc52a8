package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// output is where a report goes: stdout, or a file written atomically
// (a temporary file in the same directory renamed over the target on
// success, removed on failure).
type output struct {
	io.Writer
	tmp    *os.File
	direct *os.File // an existing non-regular target written in place
	path   string
}

func openOutput(path string, stdout io.Writer) (*output, error) {
	if path == "" || path == "-" {
		return &output{Writer: stdout}, nil
	}
	// An existing target that is not a regular file (/dev/null, a FIFO, a
	// terminal) is written in place: renaming a temporary file over it
	// would replace the device with a file.
	if fi, err := os.Stat(path); err == nil {
		if fi.IsDir() {
			return nil, fmt.Errorf("output %s is a directory", path)
		}
		if !fi.Mode().IsRegular() {
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				return nil, fmt.Errorf("open output: %w", err)
			}
			return &output{Writer: f, direct: f, path: path}, nil
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return nil, fmt.Errorf("create output: %w", err)
	}
	return &output{Writer: tmp, tmp: tmp, path: path}, nil
}

// commit makes the file visible under its name.
func (o *output) commit() error {
	if o.direct != nil {
		err := o.direct.Close()
		o.direct = nil
		if err != nil {
			return fmt.Errorf("write %s: %w", o.path, err)
		}
		return nil
	}
	if o.tmp == nil {
		return nil
	}
	err := o.tmp.Chmod(0o644)
	if err == nil {
		err = o.tmp.Sync()
	}
	if cerr := o.tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(o.tmp.Name(), o.path)
	}
	if err != nil {
		os.Remove(o.tmp.Name())
		return fmt.Errorf("write %s: %w", o.path, err)
	}
	return nil
}

// abort discards the file; it is a no-op after commit.
func (o *output) abort() {
	if o.direct != nil {
		o.direct.Close()
		o.direct = nil
	}
	if o.tmp == nil {
		return
	}
	o.tmp.Close()
	os.Remove(o.tmp.Name())
}

// writeWhat names the write to an output path ("-": standard output)
// for teeOutput.
func writeWhat(path string) string {
	if path == "" || path == "-" {
		return "write to standard output"
	}
	return "write " + path
}
