// Package ds18b20 is the `ds18b20` driver: Maxim DS18B20 (and DS1822, DS18S20 through the kernel) 1-Wire
// temperature probes, read either
//
//   - through the Linux w1 subsystem (the w1-gpio overlay on a Pi), from
//     /sys/bus/w1/devices/<rom>/w1_slave, when the sensor has no `bus:`; or
//   - through a DS2482-100/-800 or DS2483 I2C-to-1-Wire bridge, when the sensor names an `i2c` bus and the
//     bridge's `address:`.
//
// A probe that does not answer, a scratchpad whose CRC fails, an all-zero scratchpad (a probe whose data
// line is stuck low reads as zeros, and zeros have a valid CRC), and the power-on value +85 °C (datasheet:
// "the power-on reset value of the temperature register is +85°C", seen when the conversion did not run,
// usually for lack of power in parasite mode) are bad readings, never temperatures. The price is that a
// real reading of exactly 85.0000 °C is reported bad; a battery room that hot has alarmed long before.
//
// Through a bridge, periph's devices/ds248x drives the DS248x (its state machine is non-trivial and
// correct), but the DS18B20 protocol is written here, against the datasheet (ROM command 0x55 match,
// 0x44 convert T with a strong pull-up, 0xBE read scratchpad): periph's devices/ds18b20 waits for the
// conversion with time.Sleep, which the scheduler's timeout cannot interrupt, and rewrites the probe's
// EEPROM on open when the resolution differs. Here the conversion time follows the resolution the probe
// reports and no EEPROM is written. periph's ds248x.New accepts only the addresses 0x18, 0x19, 0x20 and
// 0x21, while a DS2482-100 is strapped to 0x18-0x1B and a DS2482-800 to 0x18-0x1F; the bridge is therefore
// handed an address-translating bus so every strapping works.
package ds18b20
