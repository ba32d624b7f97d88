package snmp

// UPS-MIB (RFC 1628) objects, under upsObjects = 1.3.6.1.2.1.33.1. Scalars end in .0; the input and
// output tables are read at line 1 (single-phase UPSes, and phase 1 of three-phase ones).
const (
	oidBatteryStatus    = ".1.3.6.1.2.1.33.1.2.1.0" // unknown(1) batteryNormal(2) batteryLow(3) batteryDepleted(4)
	oidSecondsOnBattery = ".1.3.6.1.2.1.33.1.2.2.0" // s, 0 when on mains
	oidMinutesRemaining = ".1.3.6.1.2.1.33.1.2.3.0" // minutes
	oidChargeRemaining  = ".1.3.6.1.2.1.33.1.2.4.0" // %
	oidBatteryVoltage   = ".1.3.6.1.2.1.33.1.2.5.0" // 0.1 V DC
	oidBatteryTemp      = ".1.3.6.1.2.1.33.1.2.7.0" // °C
	oidInputVoltage     = ".1.3.6.1.2.1.33.1.3.3.1.3.1"
	oidOutputSource     = ".1.3.6.1.2.1.33.1.4.1.0" // other(1) none(2) normal(3) bypass(4) battery(5) booster(6) reducer(7)
	oidOutputVoltage    = ".1.3.6.1.2.1.33.1.4.4.1.2.1"
	oidOutputLoad       = ".1.3.6.1.2.1.33.1.4.4.1.5.1" // upsOutputPercentLoad, %
	oidAlarmsPresent    = ".1.3.6.1.2.1.33.1.6.1.0"
	oidAlarmDescr       = ".1.3.6.1.2.1.33.1.6.2.1.2" // column: each value is a well-known alarm OID
	oidWellKnownAlarms  = ".1.3.6.1.2.1.33.1.6.3"
)

// scalars is the one GET of each poll, in this order.
var scalars = [...]string{
	oidBatteryStatus, oidSecondsOnBattery, oidMinutesRemaining, oidChargeRemaining, oidBatteryVoltage,
	oidBatteryTemp, oidInputVoltage, oidOutputSource, oidOutputVoltage, oidOutputLoad, oidAlarmsPresent,
}

// Indexes into scalars.
const (
	iBatteryStatus = iota
	iSecondsOnBattery
	iMinutesRemaining
	iCharge
	iBatteryVoltage
	iBatteryTemp
	iInputVoltage
	iOutputSource
	iOutputVoltage
	iLoad
	iAlarmsPresent
)

var scalarNames = [...]string{
	"upsBatteryStatus", "upsSecondsOnBattery", "upsEstimatedMinutesRemaining", "upsEstimatedChargeRemaining",
	"upsBatteryVoltage", "upsBatteryTemperature", "upsInputVoltage.1", "upsOutputSource", "upsOutputVoltage.1",
	"upsOutputPercentLoad.1", "upsAlarmsPresent",
}

// Well-known alarms (the last arc under upsWellKnownAlarms) that the boolean channels stand for.
const (
	alarmBatteryBad      = 1
	alarmOnBattery       = 2
	alarmLowBattery      = 3
	alarmDepletedBattery = 4
	alarmTempBad         = 5
	alarmOutputOverload  = 8
	alarmChargerFailed   = 13
	alarmFanFailure      = 16
	alarmFuseFailure     = 17
	alarmGeneralFault    = 18
	alarmDiagnosticFail  = 19
)

var alarmNames = map[int]string{
	1: "BatteryBad", 2: "OnBattery", 3: "LowBattery", 4: "DepletedBattery", 5: "TempBad", 6: "InputBad",
	7: "OutputBad", 8: "OutputOverload", 9: "OnBypass", 10: "BypassBad", 11: "OutputOffAsRequested",
	12: "UpsOffAsRequested", 13: "ChargerFailed", 14: "UpsOutputOff", 15: "UpsSystemOff", 16: "FanFailure",
	17: "FuseFailure", 18: "GeneralFault", 19: "DiagnosticTestFailed", 20: "CommunicationsLost",
	21: "AwaitingPower", 22: "ShutdownPending", 23: "ShutdownImminent", 24: "TestInProgress",
}

// faultAlarms make the fault channel 1.
var faultAlarms = []int{alarmTempBad, alarmChargerFailed, alarmFanFailure, alarmFuseFailure, alarmGeneralFault, alarmDiagnosticFail}
