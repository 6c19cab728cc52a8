package sync

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// ServerInfo is what redkit needs to know of a server, read from INFO
// and CONFIG GET.
type ServerInfo struct {
	Addr    string
	Server  string // "redis" or "valkey"
	Version string // redis_version (valkey_version for Valkey)
	Role    string // master or slave
	Cluster bool   // cluster_enabled:1
	// RDBVersion is the newest RDB version the server loads (0 when its
	// version is unknown): RESTORE payloads of a newer version are refused.
	RDBVersion int
	// ProtoMaxBulkLen is proto-max-bulk-len, or 512 MiB when CONFIG GET is
	// not allowed.
	ProtoMaxBulkLen int64
	// Fields holds every INFO field read.
	Fields map[string]string
}

// Info reads INFO server, replication and cluster, and
// proto-max-bulk-len.
func Info(c *Conn) (*ServerInfo, error) {
	v, err := c.DoString("INFO", "server")
	if err != nil {
		return nil, fmt.Errorf("INFO on %s: %w", c.Addr(), err)
	}
	fields := parseInfo(v.Str)
	for _, section := range []string{"replication", "cluster"} {
		if v, err := c.DoString("INFO", section); err == nil {
			for k, x := range parseInfo(v.Str) {
				fields[k] = x
			}
		}
	}
	si := &ServerInfo{Addr: c.Addr(), Server: "redis", Version: fields["redis_version"], Role: fields["role"],
		Cluster: fields["cluster_enabled"] == "1", ProtoMaxBulkLen: 512 << 20, Fields: fields}
	if fields["server_name"] == "valkey" || fields["valkey_version"] != "" {
		si.Server = "valkey"
		if vv := fields["valkey_version"]; vv != "" {
			si.Version = vv
		}
	}
	si.RDBVersion = MaxRDBVersion(si.Server, si.Version)
	if v, err := c.DoString("CONFIG", "GET", "proto-max-bulk-len"); err == nil && len(v.Elems) == 2 {
		if n, err := strconv.ParseInt(string(v.Elems[1].Str), 10, 64); err == nil && n > 0 {
			si.ProtoMaxBulkLen = n
		}
	}
	return si, nil
}

func parseInfo(b []byte) map[string]string {
	m := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if line == "" || line[0] == '#' {
			continue
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			m[k] = v
		}
	}
	return m
}

// MaxRDBVersion is the newest RDB version a server of this version
// loads (rdb.h's RDB_VERSION of each release), 0 if unknown.
func MaxRDBVersion(server, version string) int {
	major, minor := versionParts(version)
	if server == "valkey" {
		switch {
		case major >= 9:
			return 80
		case major >= 7:
			return 11
		}
		return 0
	}
	switch {
	case major > 8 || major == 8 && minor >= 8:
		return 14
	case major == 8 && minor >= 6:
		return 13
	case major == 8 || major == 7 && minor >= 4:
		return 12
	case major == 7 && minor >= 2:
		return 11
	case major == 7:
		return 10
	case major == 6:
		return 9
	case major == 5:
		return 9
	case major == 4:
		return 8
	case major == 3 && minor >= 2:
		return 7
	case major >= 2:
		return 6
	}
	return 0
}

func versionParts(v string) (major, minor int) {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return 0, 0
	}
	major, _ = strconv.Atoi(parts[0])
	minor, _ = strconv.Atoi(parts[1])
	return major, minor
}

// ResolveSentinel asks the sentinels of ep, in order, for the address of
// the current master of ep.Master. opts authenticate to the sentinels.
func ResolveSentinel(ctx context.Context, ep *Endpoint, opts *Options) (string, error) {
	if ep.Master == "" {
		return ep.Addrs[0], nil
	}
	var errs []error
	for _, addr := range ep.Addrs {
		c, err := Dial(ctx, addr, &Options{Username: opts.Username, Password: opts.Password, TLS: opts.TLS,
			ConnectTimeout: opts.ConnectTimeout, ReadTimeout: opts.ReadTimeout, WriteTimeout: opts.WriteTimeout})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		v, err := c.DoString("SENTINEL", "get-master-addr-by-name", ep.Master)
		c.Close()
		if err != nil {
			errs = append(errs, fmt.Errorf("sentinel %s: %w", addr, err))
			continue
		}
		if v.Null || len(v.Elems) != 2 {
			errs = append(errs, fmt.Errorf("sentinel %s: does not know master %q", addr, ep.Master))
			continue
		}
		return net.JoinHostPort(string(v.Elems[0].Str), string(v.Elems[1].Str)), nil
	}
	return "", fmt.Errorf("no sentinel of %s gave the master's address: %w", ep, errors.Join(errs...))
}

// ParseKeyspace reads the reply of INFO keyspace ("db0:keys=12,expires=...")
// into keys per database.
func ParseKeyspace(info []byte) map[int]int64 {
	out := map[int]int64{}
	for _, line := range strings.Split(string(info), "\n") {
		k, v, ok := strings.Cut(strings.TrimRight(line, "\r"), ":")
		db, isDB := strings.CutPrefix(k, "db")
		if !ok || !isDB {
			continue
		}
		n, err := strconv.Atoi(db)
		keys, _, _ := strings.Cut(strings.TrimPrefix(v, "keys="), ",")
		if x, err2 := strconv.ParseInt(keys, 10, 64); err == nil && err2 == nil {
			out[n] = x
		}
	}
	return out
}
