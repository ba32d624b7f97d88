module github.com/rackwatch/rackwatch

go 1.25

require (
	github.com/creack/pty v1.1.24
	github.com/goburrow/serial v0.1.0
	github.com/gosnmp/gosnmp v1.47.0
	github.com/simonvetter/modbus v1.6.4
	github.com/tarm/serial v0.0.0-20180830185346-98f6abe2eb07
	go.yaml.in/yaml/v3 v3.0.6
	golang.org/x/sys v0.36.0
	pgregory.net/rapid v1.3.0
)
