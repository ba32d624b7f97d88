// Package ina219 reads the TI INA219 current/power monitor over I2C: the voltage of a battery string or
// DC rail, and the current through a shunt resistor whose value comes from the config.
//
// Datasheet: TI SBOS448. Registers: 0x00 configuration (written 0x399F: 32 V bus range, ±320 mV shunt
// range, 12-bit, continuous), 0x01 shunt voltage (signed, 10 µV per bit), 0x02 bus voltage (bits 15:3,
// 4 mV per bit; bit 0 OVF is set when the current or power calculation overflowed).
//
// Current is computed here as shunt voltage / shunt resistance, and power as bus voltage times current,
// instead of through the calibration register that periph's devices/ina219 relies on: that register
// resets to 0 whenever the chip browns out, after which the current and power registers read 0 — a
// plausible-looking "no load" with no error. Reading the shunt voltage directly cannot go wrong that way.
// The INA219 has no id register; Init writes the configuration and reads it back.
package ina219
