// Package thermal is the `thermal` driver: the gateway's own SoC or board temperature from the Linux
// thermal framework (/sys/class/thermal/thermal_zone*/temp, millidegrees Celsius). A gateway that
// overheats stops watching the room, so it is a sensor like any other.
//
// A zone is chosen by its type (cpu-thermal on a Raspberry Pi, x86_pkg_temp on a PC) or its directory
// name; by default the first zone whose type mentions the CPU, else thermal_zone0. The sysfs root is an
// option so a container that mounts the host's /sys elsewhere can use it, and so the tests run against a
// fake tree.
package thermal
