// Package hdc302x reads the TI HDC3020/HDC3021/HDC3022 temperature and humidity sensors over I2C and
// derives the dew point.
//
// Datasheet: TI SNAS817. Commands are 16-bit; words come back as MSB, LSB, CRC-8 (poly 0x31, init 0xFF).
// Trigger-on-demand in low-power mode 0 is 0x2400; T = -45 + 175 * S/65535 °C, RH = 100 * S/65535 %.
// The manufacturer id (command 0x3781) reads 0x3000; Init checks it because the HDC302x's default
// address 0x44 is also the SHT4x's.
//
// Written here rather than through periph's devices/hdc302x, which puts the sensor in continuous
// (auto-measurement) mode on open and waits with time.Sleep, and never checks the manufacturer id. This
// driver triggers one low-power measurement per read, which also keeps self-heating down (TI advises
// sampling at most once a second).
package hdc302x
