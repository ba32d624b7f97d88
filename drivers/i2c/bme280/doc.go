// Package bme280 reads the Bosch BME280 (temperature, humidity, pressure) and BMP280 (temperature,
// pressure) over I2C, and derives the dew point from temperature and humidity.
//
// Datasheets: BME280 BST-BME280-DS002 (register map 5.3, compensation 4.2.3 and 8.1); BMP280
// BST-BMP280-DS001 (compensation example 3.12, table 16, used by the tests).
//
// The register transactions are written here rather than through periph's devices/bmxx80 because that
// package (v3.7.4) accepts only chip id 0x58 as a BMP280, while engineering samples and many boards
// report 0x56 or 0x57; cannot tell an installer that a board sold as "BME280" is a BMP280 when the
// config asks for humidity (a common mislabelling); busy-polls the status register without bound after a
// time.Sleep, neither of which a context can interrupt; and wraps errors with %v, which hides the bus
// error from errors.Is.
//
// Mode: forced mode with x1 oversampling and the IIR filter off, Bosch's recommended "weather monitoring"
// setting (datasheet 3.5.1): one conversion per read, about 9.3 ms, and the chip sleeps in between.
package bme280
