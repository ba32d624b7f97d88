//go:build nosnmp

package main

func init() { families = append(families, leftOut("SNMP", "nosnmp", []string{"snmp"}, nil)) }
