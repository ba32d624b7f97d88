//go:build nomegatec

package main

func init() {
	families = append(families, leftOut("Megatec/Q1 serial UPS", "nomegatec", []string{"megatec"}, nil))
}
