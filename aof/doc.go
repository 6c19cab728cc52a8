// Package aof will read and write Redis append-only files: RESP command
// streams, single-file AOFs with an RDB preamble (read through package
// rdb), and multi-part AOFs with their manifest; check and fix them; and
// turn RDB records into commands. It is empty until that work lands.
package aof
