// Package ads1115 reads the TI ADS1115 16-bit, 4-input ADC over I2C, for analog detectors: an MQ-2
// smoke/gas module, a hydrogen sensor, a 4-20 mA loop across a shunt resistor. Each configured input
// becomes a channel in its own unit through a two-point linear calibration.
//
// Datasheet: TI SBAS444. Register 0x01 (config): OS[15] start a single conversion, MUX[14:12] input,
// PGA[11:9] full-scale range, MODE[8]=1 single-shot, DR[7:5] data rate, COMP_QUE[1:0]=11 comparator off.
// Register 0x00 holds the signed 16-bit result; volts = code * FSR / 32768. A code of 0x7FFF or 0x8000 is
// full scale: the input is beyond the chosen range and the value is reported bad rather than clipped.
//
// Written here rather than through periph's devices/ads1x15, whose pin API picks the gain from a maximum
// voltage and waits for the conversion with time.Sleep, so neither the installer's range nor the
// scheduler's timeout would be honoured. The ADS1115 has no id register; it shares 0x48-0x4B with the
// TMP102, whose driver tells them apart.
package ads1115
