// Package fwbridge is the host side of the rackwatch firmware bridge: the serial protocol spoken by small
// microcontroller sensor boards (Arduino, RP2040, ESP32, STM32) over USB serial or RS-485, and the `bridge`
// sensor driver that turns a board's pushed frames into readings.
//
// The directory is named firmware-bridge (it also holds the reference C firmware, its emulator and the
// protocol specification, PROTOCOL.md), and a hyphen cannot appear in a Go package name, so the package
// clause says fwbridge. Import it as
//
//	import fwbridge "github.com/rackwatch/rackwatch/firmware-bridge"
//
// The package has three layers, each usable alone:
//
//   - The codec: AppendFrame and ParseFrame are pure functions over bytes, with sentinel errors
//     (ErrShortFrame, ErrBadCRC, …) that callers test with errors.Is.
//   - The stream layer: Conn reads frames from an io.Reader with a fixed-size buffer, skips garbage and
//     resynchronises on the next start byte, and counts every kind of bad input.
//   - The driver: Register adds the `bridge` driver, a driver.Streamer that opens the serial device
//     (through github.com/tarm/serial behind the Port interface), performs the handshake, learns the
//     board's channels, emits readings the moment a frame arrives, and notices board resets, lost
//     heartbeats, unplugged devices and boards speaking a protocol version it does not know.
//
// The C side (firmware/) implements the same framing; both read the byte vectors in testdata/frames.txt.
package fwbridge
