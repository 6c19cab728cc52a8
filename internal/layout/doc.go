// Package layout holds no code: its test checks that redkit's packages
// import each other only in the directions ../shared/STYLE.md draws,
//
//	cmd -> backup -> {pipeline, sync, storage} -> aof -> rdb, and pipeline -> sync,
//
// that storage moves bytes only (it imports no Redis format and no live
// server), that sync knows no storage, that rdb imports no other package
// of ours, that nothing imports cmd, and that only cmd imports the CLI
// and progress-bar libraries.
package layout
