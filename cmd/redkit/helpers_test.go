package main

import (
	"github.com/redkit/redkit/internal/analysis"
	"github.com/redkit/redkit/rdb"
)

func analysisKey(key []byte) analysis.Key {
	return analysis.Key{Key: key, Type: rdb.TypeString, ExpireAt: rdb.NoExpiry, Stats: rdb.ValueStats{Encoding: rdb.EncodingRaw, Memory: 64, Elements: 1}}
}
