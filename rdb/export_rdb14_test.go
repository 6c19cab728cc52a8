package rdb

// RDB14Sample gives the external tests (fuzz seeds, JSON) the RDB 14
// sample of rdb14_test.go.
var RDB14Sample = rdb14Sample
