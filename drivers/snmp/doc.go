// Package snmp reads a UPS's network card over SNMP v2c or v3 using the standard UPS-MIB (RFC 1628,
// mib-2.33), which nearly every UPS network card serves besides its vendor MIB.
//
// One GET per poll fetches the scalars (battery status, seconds on battery, minutes remaining, charge,
// battery voltage and temperature, input and output voltage, load, output source, alarms present); when
// the agent reports alarms, the alarm table is walked and its well-known alarm OIDs become the
// replace_battery, overload and fault channels. Units are converted at this edge: minutes to seconds and
// 0.1 V to V.
package snmp
