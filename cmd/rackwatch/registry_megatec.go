//go:build !nomegatec

package main

import "github.com/rackwatch/rackwatch/drivers/megatec"

func init() {
	families = append(families, family{name: "Megatec/Q1 serial UPS", tag: "nomegatec", register: megatec.Register})
}
