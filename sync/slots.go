package sync

import (
	"bytes"
	"fmt"
	"net"
	"strconv"
)

// SlotCount is the number of hash slots of a Redis Cluster.
const SlotCount = 16384

// Slot returns the hash slot of key: CRC16 (XMODEM) of the key, or of its
// hash tag (the part between the first "{" and the next "}", when not
// empty), modulo 16384.
func Slot(key []byte) int {
	if i := bytes.IndexByte(key, '{'); i >= 0 {
		if j := bytes.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	return int(crc16(key) & (SlotCount - 1))
}

var crc16Table = func() (t [256]uint16) {
	for i := range t {
		c := uint16(i) << 8
		for range 8 {
			if c&0x8000 != 0 {
				c = c<<1 ^ 0x1021
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return t
}()

func crc16(b []byte) uint16 {
	var c uint16
	for _, x := range b {
		c = c<<8 ^ crc16Table[byte(c>>8)^x]
	}
	return c
}

// SlotRange is one range of slots and the nodes serving it.
type SlotRange struct {
	Start, End int // inclusive
	Master     string
	Replicas   []string
}

// ClusterSlots reads CLUSTER SLOTS. A node announced with an empty host
// or "?" is given the host c was dialed with.
func ClusterSlots(c *Conn) ([]SlotRange, error) {
	v, err := c.DoString("CLUSTER", "SLOTS")
	if err != nil {
		return nil, fmt.Errorf("CLUSTER SLOTS on %s: %w", c.Addr(), err)
	}
	dialHost, _, _ := net.SplitHostPort(c.Addr())
	var out []SlotRange
	for _, r := range v.Elems {
		if len(r.Elems) < 3 {
			return nil, fmt.Errorf("CLUSTER SLOTS on %s: malformed reply", c.Addr())
		}
		sr := SlotRange{Start: int(r.Elems[0].Int), End: int(r.Elems[1].Int)}
		for i, n := range r.Elems[2:] {
			if len(n.Elems) < 2 {
				return nil, fmt.Errorf("CLUSTER SLOTS on %s: malformed node", c.Addr())
			}
			host := string(n.Elems[0].Str)
			if host == "" || host == "?" {
				host = dialHost
			}
			addr := net.JoinHostPort(host, strconv.FormatInt(n.Elems[1].Int, 10))
			if i == 0 {
				sr.Master = addr
			} else {
				sr.Replicas = append(sr.Replicas, addr)
			}
		}
		out = append(out, sr)
	}
	return out, nil
}
