package aof

import (
	"context"
	"encoding/binary"
	"reflect"
	"strings"
	"testing"
)

// TestKeyspaceFunctionRestorePreGA replays FUNCTION RESTORE of a payload
// in the pre-GA form (Redis 7.0-rc1/rc2: name, engine, description and
// code apart), which Redis 7.0 takes and turns into a library whose code
// starts with "#!LUA name=<name>".
func TestKeyspaceFunctionRestorePreGA(t *testing.T) {
	ctx := context.Background()
	src := aofSource(t)
	code := "redis.register_function('f', function() return 1 end)"
	p := []byte{0xf6, 4, 'l', 'i', 'b', 'p', 3, 'L', 'U', 'A', 1, 4, 'd', 'e', 's', 'c', byte(len(code))}
	p = append(p, code...)
	p = binary.LittleEndian.AppendUint16(p, 10)
	p = binary.LittleEndian.AppendUint64(p, dumpCRC(p))
	if err := src.Client().Do(ctx, "FUNCTION", "RESTORE", string(p)).Err(); err != nil {
		t.Fatalf("redis-server refuses the pre-GA payload: %v", err)
	}
	_, dst := judge(t, src)
	want, _ := src.Do(ctx, "FUNCTION", "LIST", "WITHCODE")
	got, _ := dst.Do(ctx, "FUNCTION", "LIST", "WITHCODE")
	if !reflect.DeepEqual(sortedList(got), sortedList(want)) {
		t.Errorf("FUNCTION LIST:\n got %v\nwant %v", got, want)
	}
	if !strings.Contains(strings.Join(sortedList(want), " "), "#!LUA name=libp\n"+code) {
		t.Errorf("redis-server made %v of it", want)
	}
}
