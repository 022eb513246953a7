//go:build !linux

package bench

import "os"

// fdatasync flushes f; where there is no fdatasync, with fsync.
func fdatasync(f *os.File) error { return f.Sync() }
