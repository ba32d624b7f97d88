module github.com/rackwatch/rackwatch

go 1.25

require go.yaml.in/yaml/v3 v3.0.6

require (
	github.com/creack/pty v1.1.24 // indirect
	github.com/goburrow/serial v0.1.0 // indirect
	github.com/simonvetter/modbus v1.6.4 // indirect
)
