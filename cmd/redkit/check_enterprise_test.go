package main

import (
	"strings"
	"testing"
)

// TestCheckEnterpriseOpcodes: check reads a dump with Redis
// Enterprise's RAM_LRU records, succeeds and mentions them.
func TestCheckEnterpriseOpcodes(t *testing.T) {
	path := corpus(t, "librdb/redis_ent_opcode_ram_lru.rdb")
	r := redkit(t, nil, "check", path).want(t, 0)
	if !strings.Contains(r.stdout, "3 Redis Enterprise RAM_LRU records (opcode 107)") {
		t.Errorf("stdout:\n%s", r.stdout)
	}
	r = redkit(t, nil, "check", "--format", "json", path).want(t, 0)
	if !strings.Contains(r.stdout, `"skipped_opcodes":{"RAM_LRU":3}`) {
		t.Errorf("stdout:\n%s", r.stdout)
	}
}
