// Command binsize prints what each module and package costs in a Go executable: the sizes of its symbols
// summed per package, with the function tables (.gopclntab: names, line tables, stack maps; a third of a
// Go binary) shared out in proportion to each package's code. Build the binary with symbols (-ldflags -w,
// not -s); the loaded sections are the same as the stripped binary's.
//
//	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=6 go build -ldflags -w -o /tmp/rw ./cmd/rackwatch
//	go run ./agent/internal/binsize [-n 40] /tmp/rw
//
// `make size` does both for the default and the minimal build.
package main
