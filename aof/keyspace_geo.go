package aof

import (
	"strconv"
)

// Geo commands (geo.c, geohash.c). A geo set is a sorted set whose scores
// are 52-bit interleaved geohashes. Redis 7.0 propagates GEOADD as the
// ZADD it turns into, but older files and other writers may hold GEOADD
// itself, so it is replayed the same way: converted to ZADD.
//
// GEOSEARCHSTORE and GEORADIUS / GEORADIUSBYMEMBER with STORE or
// STOREDIST are propagated verbatim; replaying them needs Redis's
// haversine distances computed bit for bit as glibc does (STOREDIST
// stores them as scores), so they are refused.

const (
	geoStepMax = 26 // GEO_STEP_MAX: 26*2 = 52 bits
	geoLatMin  = -85.05112878
	geoLatMax  = 85.05112878
	geoLongMin = -180.0
	geoLongMax = 180.0
)

// interleave64 puts the bits of x in the even positions and those of y in
// the odd ones.
func interleave64(xlo, ylo uint32) uint64 {
	spread := func(v uint64) uint64 {
		v = (v | v<<16) & 0x0000FFFF0000FFFF
		v = (v | v<<8) & 0x00FF00FF00FF00FF
		v = (v | v<<4) & 0x0F0F0F0F0F0F0F0F
		v = (v | v<<2) & 0x3333333333333333
		v = (v | v<<1) & 0x5555555555555555
		return v
	}
	return spread(uint64(xlo)) | spread(uint64(ylo))<<1
}

// geohashEncodeWGS84 returns the 52-bit geohash of a point already checked
// to be within the limits, as geohashEncodeWGS84 and geohashAlign52Bits
// compute it.
func geohashEncodeWGS84(long, lat float64) uint64 {
	latOffset := float64((lat - geoLatMin) / (geoLatMax - geoLatMin))
	longOffset := float64((long - geoLongMin) / (geoLongMax - geoLongMin))
	latOffset *= 1 << geoStepMax
	longOffset *= 1 << geoStepMax
	// C converts the doubles to uint32 by truncation.
	return interleave64(uint32(latOffset), uint32(longOffset))
}

func cmdGeoAdd(c *cmd) error {
	var nx, xx bool
	j := 2
flags:
	for ; j < len(c.args); j++ {
		switch a := c.args[j]; {
		case ascii(a, "nx"):
			nx = true
		case ascii(a, "xx"):
			xx = true
		case ascii(a, "ch"):
		default:
			break flags
		}
	}
	if (len(c.args)-j)%3 != 0 || nx && xx {
		return errSyntax
	}
	zargs := make([][]byte, 0, j+(len(c.args)-j)/3*2)
	zargs = append(zargs, []byte("zadd"))
	zargs = append(zargs, c.args[1:j]...)
	for i := j; i < len(c.args); i += 3 {
		long, ok1 := parseFloat(c.args[i])
		lat, ok2 := parseFloat(c.args[i+1])
		if !ok1 || !ok2 {
			return errNotFloat
		}
		if long < geoLongMin || long > geoLongMax || lat < geoLatMin || lat > geoLatMax {
			return rejectf("invalid longitude,latitude pair %f,%f", long, lat)
		}
		bits := geohashEncodeWGS84(long, lat)
		zargs = append(zargs, strconv.AppendUint(nil, bits, 10), c.args[i+2])
	}
	return cmdZAdd(&cmd{k: c.k, args: zargs, db: c.db, ts: c.ts})
}

// cmdGeoStore refuses GEOSEARCHSTORE, and GEORADIUS and GEORADIUSBYMEMBER,
// which only reach an AOF with STORE or STOREDIST.
func cmdGeoStore(c *cmd) error {
	return unsupportedf("%s stores haversine search results, which are not replayed exactly", c.args[0])
}
