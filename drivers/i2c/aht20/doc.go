// Package aht20 reads the Aosong AHT20 temperature and humidity sensor (address 0x38) and derives the
// dew point.
//
// Datasheet: Aosong AHT20 v1.1, section 5.4: status (0x71), calibrate if the CAL bit (bit 3) is clear
// (0xBE 0x08 0x00, then 10 ms), trigger (0xAC 0x33 0x00), wait 80 ms, read 7 bytes (status, 20-bit
// humidity, 20-bit temperature, CRC-8 poly 0x31 init 0xFF); RH = S/2^20 * 100 %, T = S/2^20 * 200 - 50 °C.
//
// Written here rather than through periph's devices/aht20, which skips the CRC check unless asked,
// waits with time.Sleep (no context) and allocates a buffer per read. The AHT20 has no id register.
package aht20
