// Package faultfs is a file system for tests that fails the way disks do: it fills up (writes that do not
// fit are cut short and fail with ENOSPC), it returns I/O errors on writes or fsyncs, and it heals. It
// wraps the real file system, so what does get written is real and can be reopened.
package faultfs
