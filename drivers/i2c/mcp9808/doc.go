// Package mcp9808 reads the Microchip MCP9808 digital temperature sensor (±0.25 °C typical) over I2C.
//
// Datasheet: Microchip DS25095A. Registers: 0x01 CONFIG, 0x05 T_A, 0x06 manufacturer ID (0x0054), 0x07
// device ID (0x04 in the upper byte), 0x08 resolution.
//
// Written here rather than through periph's devices/mcp9808, which replaces every bus error with a fixed
// sentinel ("error reading temperature") so a NACK and a wrong address look alike, and which never reads
// the manufacturer and device ids, so any chip at 0x18-0x1F (a DS2482 1-Wire bridge lives there too) is
// taken for an MCP9808.
package mcp9808
