module github.com/rackwatch/rackwatch

go 1.25

require go.yaml.in/yaml/v3 v3.0.6

require pgregory.net/rapid v1.3.0
