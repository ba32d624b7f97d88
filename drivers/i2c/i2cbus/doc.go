// Package i2cbus is the `i2c` bus type and what every I2C sensor driver shares: opening a Linux I2C
// adapter through periph's host drivers, serialising transactions on it, reaching a sensor behind a
// PCA9548A multiplexer channel, the options every I2C sensor has (`address`, `mux`), and a Poller that
// re-initialises a chip on the next read after a failure, so a sensor unplugged and plugged back in
// recovers without a restart.
//
// Chip drivers (bme280, mcp9808, ...) are small: they implement Chip (Init probes the chip id and
// configures it, Measure reads one sample per channel) and call Open. Errors from a chip driver are
// wrapped here with the sensor id, bus id and address, so every failure an operator sees says which
// device it is: "bme280: sensor r12.inlet on bus i2c1 at 0x76 via mux 0x70 channel 3: read 0xd0: ...".
// Each chip package also exports an Identifier, its part's id probe for `rackwatch scan`: the scanner
// (i2cscan) is handed the Identifiers of the chips compiled in and never imports a chip driver.
//
// The PCA9548A multiplexer is a sensor option (`mux: {address: 0x70, channel: 3}`) rather than a bus of
// its own: the installer writes one line per sensor and sees where it is wired. periph's pca9548 package
// registers its ports in the process-wide i2creg registry under fixed names, which fails the second time
// the same mux is opened (a sensor re-opened after an error); the mux protocol is a single control-byte
// write (PCA9548A datasheet, 8.6.1 "Control Register"), so Port does it here.
package i2cbus
