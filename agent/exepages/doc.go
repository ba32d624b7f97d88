// Package exepages drops the executable's pages that start-up mapped into the agent's resident memory
// and will not use again.
//
// A Go binary is mapped from its file, and Linux maps file pages in blocks around every page the program
// touches ("fault-around", 64 KiB by default), from the page cache. Go's start-up runs every package's
// init, spread over the whole binary, and loading the config, TLS and the first connections run code
// that never runs again: nearly every block of the binary ends up resident, most of the agent's memory,
// for code it ran once. Trim unmaps the read-only part of the executable (code, read-only data, function
// tables) from the process with MADV_DONTNEED: nothing changes for the program, the pages stay in the
// page cache (clean and shared, the kernel's to reclaim), and the blocks the agent runs come back on
// their next use. What stays resident is what the agent runs.
//
// It is not a way around fault-around, which the kernel applies to every mapping of a file: a trimmed
// page that is touched again comes back with its block.
package exepages
