// Package tmp102 reads the TI TMP102 (also TMP112, TMP75-compatible) temperature sensor over I2C.
//
// Datasheet: TI SBOS397. Register 0x00 is the temperature, 12 bits left-justified in 1/16 °C (13 bits
// when the EM bit, bit 0 of the low byte, is set); 0x01 is the configuration (reset value 0x60A0).
//
// The TMP102 has no id register. Its configuration bits R1/R0 (bits 14:13) are read-only and always read
// 11, which tells it apart from an ADS1115 at the same addresses (whose config register resets to 0x8583);
// Init checks them. periph's devices/tmp102 checks nothing, ignores the context, and rewrites the
// configuration register on open; this driver only clears the shutdown bit if it is set.
package tmp102
