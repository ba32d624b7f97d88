// Package i2cscan finds the sensors on an I2C bus for `rackwatch scan`: it probes every 7-bit address,
// names what answers by reading the chip's id where the chip has one (by address alone otherwise, and
// says so), looks behind every PCA9548A multiplexer channel, lists the DS18B20 probes behind a DS248x
// bridge, and formats config lines an installer can paste.
//
// The chips are recognised by the i2cbus.Identifiers their packages export, handed to Scan by the caller
// (cmd/rackwatch passes those compiled into the binary): this package imports no chip driver. It keeps
// only what belongs to no chip driver: the bus walk, the multiplexers, the DS248x bridges, and how
// several identifiers' answers make one.
//
// Probing writes to the bus. It sends only reads and id-register reads, with three exceptions that are
// undone: a PCA9548A's control register is set to test it and to select each channel in turn, then
// restored; a DS248x bridge is reset to search its 1-Wire bus. Run it with the agent stopped.
package i2cscan
