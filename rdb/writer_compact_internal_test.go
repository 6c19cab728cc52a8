package rdb

import (
	"math"
	"strconv"
	"testing"
)

// TestScoreString: scores that are not integers as Redis writes them in
// a listpack: %.17g up to RDB 10, fpconv_dtoa's layout from RDB 11.
func TestScoreString(t *testing.T) {
	for _, tc := range []struct {
		d       float64
		version int
		want    string
	}{
		{0.1, 10, "0.10000000000000001"},
		{0.1, 11, "0.1"},
		{2.5, 10, "2.5"},
		{-1.5, 11, "-1.5"},
		{1e20, 10, "1e+20"},
		{1e20, 11, "1e+20"},
		{123456789.125, 11, "123456789.125"},
		{1e-7, 11, "1e-7"},
		{1.5e-6, 11, "1.5e-6"},
		{0.000123, 11, "0.000123"},
		{1e15 + 0.5, 11, "1000000000000000.5"},
		{1.0 / 3, 11, "0.3333333333333333"},
		{math.Inf(-1), 11, "-inf"},
		{math.Inf(1), 10, "inf"},
	} {
		if got := scoreString(tc.d, tc.version); got != tc.want {
			t.Errorf("scoreString(%v, %d) = %q, want %q", tc.d, tc.version, got, tc.want)
		}
	}
}

// FuzzScoreString: every finite score reads back as itself, in either
// layout.
func FuzzScoreString(f *testing.F) {
	for _, d := range []float64{0.1, 1e20, -1.5e-6, 123456789.125, 5e-324, math.MaxFloat64} {
		f.Add(d)
	}
	f.Fuzz(func(t *testing.T, d float64) {
		if math.IsNaN(d) || math.IsInf(d, 0) {
			return
		}
		for _, v := range []int{10, 11} {
			s := scoreString(d, v)
			got, err := strconv.ParseFloat(s, 64)
			if err != nil || got != d {
				t.Fatalf("scoreString(%v, %d) = %q: reads back as %v, %v", d, v, s, got, err)
			}
		}
	})
}
