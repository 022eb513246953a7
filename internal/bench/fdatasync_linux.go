package bench

import (
	"os"

	"golang.org/x/sys/unix"
)

// fdatasync flushes f's data as the embedded store's write-ahead log
// does (pebble's SyncData).
func fdatasync(f *os.File) error { return unix.Fdatasync(int(f.Fd())) }
