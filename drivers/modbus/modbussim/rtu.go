package modbussim

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	mb "github.com/simonvetter/modbus"
)

// The library's server speaks Modbus TCP only; simulated RTU devices (and the RTU tests) need the
// server side of the serial framing, which is this file: request framing, CRC, dispatch to the same
// mb.RequestHandler the TCP server uses, and the response frame.

// CRC16 is the Modbus RTU CRC (CRC-16/MODBUS: reflected polynomial 0xA001, initial 0xFFFF). It is sent
// low byte first.
func CRC16(b []byte) uint16 {
	crc := uint16(0xFFFF)
	for _, c := range b {
		crc ^= uint16(c)
		for i := 0; i < 8; i++ {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0xA001
			} else {
				crc >>= 1
			}
		}
	}
	return crc
}

// RTUFrame is one request or response on the serial line, without its CRC.
type RTUFrame struct {
	Unit     uint8
	Function uint8
	Data     []byte
}

// Errors of ParseRTURequest. On any but ErrIncomplete the caller drops one byte and parses again: on a
// shared line a frame can start anywhere in a burst of noise.
var (
	ErrIncomplete      = errors.New("modbus: incomplete frame")
	ErrFrameCRC        = errors.New("modbus: frame CRC mismatch")
	ErrUnknownFunction = errors.New("modbus: unknown function code")
)

// maxRTUFrame is the largest RTU frame (serial-line spec: 256 bytes).
const maxRTUFrame = 256

// requestLen returns the length of a request frame (with CRC) starting with b, or 0 if b is too short
// to tell, or -1 if the function code is not one this server frames.
func requestLen(b []byte) int {
	if len(b) < 2 {
		return 0
	}
	switch b[1] {
	case 0x01, 0x02, 0x03, 0x04, 0x05, 0x06:
		return 8 // unit, fc, addr(2), quantity or value(2), crc(2)
	case 0x0F, 0x10:
		if len(b) < 7 {
			return 0
		}
		return 9 + int(b[6]) // unit, fc, addr(2), quantity(2), byte count, data, crc(2)
	}
	return -1
}

// ParseRTURequest parses the request frame at the start of b and returns it with the number of bytes
// it used. The frame's Data aliases b.
func ParseRTURequest(b []byte) (RTUFrame, int, error) {
	n := requestLen(b)
	switch {
	case n < 0:
		return RTUFrame{}, 0, fmt.Errorf("%w 0x%02x", ErrUnknownFunction, b[1])
	case n == 0 || len(b) < n:
		return RTUFrame{}, 0, ErrIncomplete
	}
	if got, want := binary.LittleEndian.Uint16(b[n-2:n]), CRC16(b[:n-2]); got != want {
		return RTUFrame{}, 0, ErrFrameCRC
	}
	return RTUFrame{Unit: b[0], Function: b[1], Data: b[2 : n-2]}, n, nil
}

// AppendRTUFrame appends f and its CRC to dst.
func AppendRTUFrame(dst []byte, f RTUFrame) []byte {
	start := len(dst)
	dst = append(dst, f.Unit, f.Function)
	dst = append(dst, f.Data...)
	return binary.LittleEndian.AppendUint16(dst, CRC16(dst[start:]))
}

// ErrNoResponse, returned by a handler, makes RTUServer stay silent, as a unit that is absent or dead.
var ErrNoResponse = errors.New("modbus: no response")

// RTUServer serves Modbus RTU requests from a serial port (or one end of a pty) to a handler.
type RTUServer struct {
	Handler mb.RequestHandler
	Log     *slog.Logger
	// Corrupt, when set, is called with each response frame (CRC included) before it is written, so
	// tests can damage it.
	Corrupt func(frame []byte)

	mu      sync.Mutex
	garbled map[string]int
}

// Garbled returns how many times input had to be discarded, by kind.
func (s *RTUServer) Garbled() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.garbled))
	for k, v := range s.garbled {
		out[k] = v
	}
	return out
}

func (s *RTUServer) countGarbled(kind string) {
	s.mu.Lock()
	if s.garbled == nil {
		s.garbled = map[string]int{}
	}
	s.garbled[kind]++
	first := s.garbled[kind] == 1
	s.mu.Unlock()
	if first && s.Log != nil {
		s.Log.Warn("modbus sim: discarding garbled input (logged once per kind)", "kind", kind)
	}
}

// interFrameGap is how long a partial frame may wait for its remaining bytes before it is dropped, so a
// stray byte on the line cannot delay the next real request for ever. The spec's t3.5 is a few ms; a
// pty or a USB adapter delivers in bursts, so this is generous.
const interFrameGap = 50 * time.Millisecond

// Serve reads requests from port and answers them until ctx is done or port fails. A port with read
// deadlines (a non-blocking *os.File such as OpenPTY's master) or one whose reads time out by
// themselves (OpenSerialPort) lets Serve drop half-received frames and notice ctx; with any other port,
// close it to stop Serve.
func (s *RTUServer) Serve(ctx context.Context, port io.ReadWriter) error {
	type deadliner interface{ SetReadDeadline(time.Time) error }
	dl, canDeadline := port.(deadliner)
	buf := make([]byte, 0, 2*maxRTUFrame)
	chunk := make([]byte, maxRTUFrame)
	out := make([]byte, 0, maxRTUFrame)
	for ctx.Err() == nil {
		if canDeadline {
			d := time.Now().Add(200 * time.Millisecond) // wake up to notice ctx
			if len(buf) > 0 {
				d = time.Now().Add(interFrameGap)
			}
			if dl.SetReadDeadline(d) != nil {
				canDeadline = false
			}
		}
		n, err := port.Read(chunk)
		buf = append(buf, chunk[:n]...)
		if err != nil {
			if isTimeout(err) {
				if len(buf) > 0 {
					s.countGarbled("partial frame")
					buf = buf[:0]
				}
				continue
			}
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("modbus sim: read: %w", err)
		}
		for len(buf) > 0 {
			f, used, err := ParseRTURequest(buf)
			if errors.Is(err, ErrIncomplete) {
				break
			}
			if err != nil {
				kind := "bad crc"
				if errors.Is(err, ErrUnknownFunction) {
					kind = "unknown function"
				}
				s.countGarbled(kind)
				buf = buf[:copy(buf, buf[1:])]
				continue
			}
			resp, answer := s.handle(f)
			buf = buf[:copy(buf, buf[used:])]
			if !answer {
				continue
			}
			out = AppendRTUFrame(out[:0], resp)
			if s.Corrupt != nil {
				s.Corrupt(out)
			}
			if _, err := port.Write(out); err != nil {
				return fmt.Errorf("modbus sim: write: %w", err)
			}
		}
		if len(buf) > cap(buf)/2 { // only garbage accumulates this far
			s.countGarbled("overflow")
			buf = buf[:0]
		}
	}
	return nil
}

// isTimeout reports whether err is a read deadline or a port's own read timeout.
func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// handle dispatches one request; answer is false for broadcasts and silent units.
func (s *RTUServer) handle(f RTUFrame) (resp RTUFrame, answer bool) {
	resp = RTUFrame{Unit: f.Unit, Function: f.Function}
	d := f.Data
	addr := binary.BigEndian.Uint16(d[0:2])
	qty := binary.BigEndian.Uint16(d[2:4])
	var err error
	switch f.Function {
	case 0x01, 0x02:
		if qty == 0 || qty > 2000 {
			err = mb.ErrIllegalDataValue
			break
		}
		var bits []bool
		if f.Function == 0x01 {
			bits, err = s.Handler.HandleCoils(&mb.CoilsRequest{UnitId: f.Unit, Addr: addr, Quantity: qty})
		} else {
			bits, err = s.Handler.HandleDiscreteInputs(&mb.DiscreteInputsRequest{UnitId: f.Unit, Addr: addr, Quantity: qty})
		}
		if err == nil && len(bits) != int(qty) {
			err = mb.ErrServerDeviceFailure
		}
		if err == nil {
			packed := make([]byte, (len(bits)+7)/8)
			for i, v := range bits {
				if v {
					packed[i/8] |= 1 << (i % 8)
				}
			}
			resp.Data = append([]byte{byte(len(packed))}, packed...)
		}
	case 0x03, 0x04:
		if qty == 0 || qty > 125 {
			err = mb.ErrIllegalDataValue
			break
		}
		var regs []uint16
		if f.Function == 0x03 {
			regs, err = s.Handler.HandleHoldingRegisters(&mb.HoldingRegistersRequest{UnitId: f.Unit, Addr: addr, Quantity: qty})
		} else {
			regs, err = s.Handler.HandleInputRegisters(&mb.InputRegistersRequest{UnitId: f.Unit, Addr: addr, Quantity: qty})
		}
		if err == nil && len(regs) != int(qty) {
			err = mb.ErrServerDeviceFailure
		}
		if err == nil {
			resp.Data = make([]byte, 1, 1+2*len(regs))
			resp.Data[0] = byte(2 * len(regs))
			for _, r := range regs {
				resp.Data = binary.BigEndian.AppendUint16(resp.Data, r)
			}
		}
	case 0x05:
		if qty != 0xFF00 && qty != 0x0000 {
			err = mb.ErrIllegalDataValue // a coil is written FF00 (on) or 0000 (off)
			break
		}
		_, err = s.Handler.HandleCoils(&mb.CoilsRequest{UnitId: f.Unit, Addr: addr, Quantity: 1, IsWrite: true, Args: []bool{qty == 0xFF00}})
		resp.Data = append([]byte(nil), d[:4]...)
	case 0x06:
		_, err = s.Handler.HandleHoldingRegisters(&mb.HoldingRegistersRequest{UnitId: f.Unit, Addr: addr, Quantity: 1, IsWrite: true, Args: []uint16{qty}})
		resp.Data = append([]byte(nil), d[:4]...)
	default:
		// Multi-coil and multi-register writes are framed (so the stream stays in step) but not supported.
		err = mb.ErrIllegalFunction
	}
	if f.Unit == 0 || errors.Is(err, ErrNoResponse) {
		return resp, false
	}
	if err != nil {
		resp.Function |= 0x80
		resp.Data = []byte{exceptionCode(err)}
	}
	return resp, true
}

// exceptionCode maps the library's errors back to exception codes (the library keeps its map private).
func exceptionCode(err error) byte {
	for code, e := range map[byte]error{
		0x01: mb.ErrIllegalFunction, 0x02: mb.ErrIllegalDataAddress, 0x03: mb.ErrIllegalDataValue,
		0x05: mb.ErrAcknowledge, 0x06: mb.ErrServerDeviceBusy, 0x08: mb.ErrMemoryParityError,
		0x0A: mb.ErrGWPathUnavailable, 0x0B: mb.ErrGWTargetFailedToRespond,
	} {
		if errors.Is(err, e) {
			return code
		}
	}
	return 0x04 // server device failure
}
