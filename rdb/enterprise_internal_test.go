package rdb

import (
	"bytes"
	"errors"
	"testing"
)

// TestEnterpriseOpcodes: Redis Enterprise's RAM_LRU (107) and SLOT_NUM
// (121) records carry one length each; the Reader reads past them, as
// librdb does, and counts them. Other unknown opcodes stay errors.
func TestEnterpriseOpcodes(t *testing.T) {
	var b rdbBuilder
	b.WriteString("REDIS0012")
	b.WriteByte(opSelectDB)
	b.len(0)
	b.WriteByte(opEntSlotNum)
	b.len(1234)
	b.WriteByte(opEntRAMLRU)
	b.len(67)
	b.WriteByte(typeString)
	b.str("a")
	b.str("b")
	b.WriteByte(opEntRAMLRU)
	b.len(1 << 20)
	b.WriteByte(typeString)
	b.str("c")
	b.str("d")
	s := readSeen(t, b.end())
	if len(s.keys) != 2 || string(s.keys["a"][0].Member) != "b" || string(s.keys["c"][0].Member) != "d" {
		t.Fatalf("keys %v", s.keys)
	}
	rd := NewReader(bytes.NewReader(b.Bytes()))
	for {
		if _, err := rd.Next(); err != nil {
			break
		}
	}
	want := []SkippedOpcode{{opEntSlotNum, "SLOT_NUM", 1}, {opEntRAMLRU, "RAM_LRU", 2}}
	if got := rd.Skipped(); len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("Skipped() = %v, want %v", got, want)
	}
	// Other unknown opcodes stay an error with the offset, and Valkey
	// files do not have Enterprise's.
	for _, c := range []struct {
		hdr string
		op  byte
	}{{"REDIS0012", 108}, {"REDIS0012", 100}, {"VALKEY080", opEntRAMLRU}} {
		var b rdbBuilder
		b.WriteString(c.hdr)
		b.WriteByte(opSelectDB)
		b.len(0)
		b.WriteByte(c.op)
		b.len(1)
		rd := NewReader(bytes.NewReader(b.end()))
		rd.Next()
		_, err := rd.Next()
		var pe *ParseError
		if !errors.Is(err, ErrUnsupportedType) || !errors.As(err, &pe) || pe.Offset != 11 {
			t.Errorf("%s opcode %d: got %v, want unsupported type at offset 11", c.hdr, c.op, err)
		}
	}
	// A truncated Enterprise opcode is a truncated file.
	var tb rdbBuilder
	tb.WriteString("REDIS0012")
	tb.WriteByte(opEntRAMLRU)
	if _, err := NewReader(bytes.NewReader(tb.Bytes())).Next(); !IsTruncated(err) {
		t.Errorf("truncated RAM_LRU: got %v", err)
	}
}
