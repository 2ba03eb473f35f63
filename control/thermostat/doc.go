// Package thermostat decides a thermostat's relay outputs (heat, cool,
// their second stages, fan, reversing valve) from temperature readings,
// the settings people chose, and the time. It is pure logic: no
// goroutines, no hardware, no clock of its own. The daemon calls
// Controller.Step about once a second with the monotonic time, the wall
// time, the latest reading of each sensor and what the relays read back
// as, and writes the Decision's outputs to the relays.
//
// # What it promises
//
// Heat and cool are never on together. The compressor and the furnace keep
// their minimum off and on times across everything that can happen around
// them: a setpoint or mode change, a preset, a config reload, a relay that
// fails to switch or to read back, a restart of the daemon. A temperature
// sensor that goes stale or sends readings that cannot be true switches
// heating and cooling off with an alert; freeze protection is the one
// exception, and only while a sensor is fresh. Every Decision says why the
// equipment does what it does.
//
// # Calls and differentials
//
// Heating is called for at or below Target - HeatDiff and ends at or above
// Target; cooling at or above Target + CoolDiff, ending at or below Target.
// The call ends at the setpoint itself, not half a differential past it
// as some commercial thermostats do: the setpoint is what the person asked
// for, heating never goes past it and cooling never below it, and the band
// is one differential wide either way. The room swings between the
// setpoint and one differential short of it; with the defaults and sim's
// room the scenario tests hold every setpoint within 0.51 °C once reached
// (the test demands ±0.6 °C), at under one cycle an hour.
//
// In auto, heating works to TargetLow and cooling to TargetHigh, which are
// at least MinGap apart, so the two calls can never be on together. A
// change between heating and cooling in auto waits ChangeoverDelay after
// the other stopped. Manual mode changes do not: a person chose them.
//
// # Minimum times
//
// The compressor is the cool relay, and the heat relay too on a heat pump
// (HeatPump); its CompMinOff and CompMinOn apply to both, so a heat pump
// cannot swap directly between heating and cooling. The furnace is the heat
// relay otherwise, with HeatMinOff and HeatMinOn. The minimum times belong
// to the relays, not to the settings: no command, preset or reload resets
// or skips them. Reason shows every wait: "compressor min-off: 2m40s left".
//
// Switch times are those the relays read back, at the step after a
// command, so each is the latest the switch can have happened and a
// minimum counted from it is never shorter than the real one. A relay that
// cannot be written or read is taken to be in its worst state for timing:
//   - on while it was on, or had been told to go on; its on time runs on;
//   - if it was told to go on and never read back on, only just on: since
//     the daemon retries the write, any retry may be the one that closes
//     it, so its minimum on time runs from when it reads back on;
//   - told off and not yet read back off, it is never told on again, and
//     its minimum off time counts from when it reads back off.
//
// Unlike Home Assistant's generic_thermostat, a relay that goes
// unavailable for a moment therefore never restarts a minimum time at its
// end or cuts the next off time short. A relay that stays unavailable
// raises an alert, and MaxRun counts from the earliest a run can have
// begun, so that a start that never reads back is not held on unseen.
//
// Memory carries the last switch times across a restart as wall-clock
// times. At New, a switch time that is unknown, in the future (an
// unsynchronised clock), or a run still going when the daemon stopped (it
// ended when the relays went off, at an unknown time) counts as just now:
// the full minimum off time is kept from the start. Memory shows a start as
// soon as it is asked for, so the daemon must persist it before it writes
// the outputs of the Step that changed it. When the wall clock jumps (NTP),
// Memory is restated on the new clock at the next Step.
//
// # What overrides what
//
//  1. The interlock: heat and cool are never both on. If both were ever
//     asked for, or both read back on, all heating and cooling goes off
//     with an alert.
//  2. Minimum off times, absolutely: not even freeze protection starts a
//     machine early.
//  3. Safety cut-offs: a lost sensor stops heating and cooling, and
//     over-temperature stops heating, even within a minimum on time. A
//     lost sensor never has to: a machine is only started on a reading
//     that stays fresh until its minimum on time is up (which is why
//     StaleAfter must exceed the minimum on times by a minute); only a
//     config reload that shortens StaleAfter can make it. Over-temperature
//     cannot arise from heating to a setpoint (OverTemp is above
//     MaxSetpoint), only from the sun, a fire, or a sensor gone wrong.
//  4. Minimum on times, against everything else.
//  5. The calls.
//
// # Stages, fan and valve
//
// A second stage runs only with its first, once the first reads back on:
// after it has run Stage2After still short of the target, or at once when
// the room is Stage2Diff or more away from it. It then stays on for the
// rest of the call, so that it does not cycle within one.
//
// The fan runs whenever heating or cooling is on, for FanOverrun after
// they read back off, always in fan mode on and in fan_only mode, and in
// fan mode circulate for Circulate in each hour of the monotonic clock:
// at the end of the hour, for what heating and cooling have not already
// run it.
//
// The reversing valve (O energised for cool, or B for heat) moves only
// while the compressor is off: to the direction of the mode, or the one
// wanted, and ahead of a start, which waits a step for it. In auto it rests
// in the direction last run. It is released in off and fan_only (unless
// freeze protection heats).
//
// # Sensors
//
// The room temperature is the mean of the fresh sensors: those whose last
// good reading is younger than StaleAfter. The over-temperature cut-off
// uses the hottest fresh sensor. A reading is dropped, with an alert while
// it is the sensor's latest, when it is NaN, ±Inf or outside -40..85 °C
// (the ranges indoor sensors are rated for; 85 °C is also a DS18B20's
// power-on value), when it is stamped in the future, or when it jumps more
// than 10 °C from the sensor's last good reading within a minute: no room
// moves that fast, so it is a spike. A jump that lasts is believed after
// that minute. A CRC error or a failing sensor is simply no reading.
// Reading.At must be when the value was read, not when it last changed:
// a steady temperature must not look stale.
//
// Freeze protection heats below Freeze until Freeze + HeatDiff, in every
// mode, when there is a heat relay and a fresh sensor. A single run
// longer than MaxRun raises an alert and goes on: cutting off a long run
// in a cold snap is cutting the heat when it is most needed, and the real
// dangers of a run that never ends (a stuck relay, a sensor gone wrong)
// are the over-temperature cut-off's and the stale sensor's to catch; the
// alert asks a person to look.
//
// # Presets and hold
//
// ApplyPreset puts a preset's settings in force until a wall time (zero:
// until ended), then the settings from before come back. The wall time is
// checked at Step; while the wall clock is unknown a hold goes on. A
// command (SetSettings) ends a hold. SetConfig refuses a config the
// settings in force, or those a hold would restore, do not meet, and one
// that removes a relay that is on.
//
// # Defaults, and why
//
//   - HeatDiff, CoolDiff 0.5 °C: about 1 °F, the usual commercial cycle
//     width: below what people notice, wide enough for a furnace to run
//     minutes rather than seconds (sim's room: under a cycle an hour).
//   - MinGap 1.5 °C: auto's heating and cooling targets stay well apart,
//     so that neither one's overshoot calls the other.
//   - CompMinOff 5 min: refrigerant pressures need minutes to equalise; a
//     compressor restarted against them stalls and overheats. The standard
//     anti-short-cycle delay.
//   - CompMinOn 3 min: a run long enough for the oil to return to the
//     compressor and the coil to reach working temperature.
//   - HeatMinOff 1 min: a furnace purges its combustion chamber and resets
//     its ignition sequence between runs.
//   - HeatMinOn 0: a furnace runs its own ignition and limit sequence; set
//     it for burners or boilers that suffer from short runs.
//   - FanOverrun 1 min: brings the heat left in the heat exchanger (or the
//     cold on the coil) into the house, and cools the exchanger.
//   - Stage2After 10 min: long enough to see whether stage 1 keeps up,
//     short enough not to leave a cold house waiting.
//   - Stage2Diff 1.5 °C: three differentials off, as after a night setback,
//     stage 1 alone would take hours.
//   - ChangeoverDelay 10 min: auto does not chase a brief overshoot with
//     the opposite mode.
//   - MaxRun 2 h: a sized system satisfies a call well within it; longer
//     suggests a stuck relay, lost refrigerant or an open window.
//   - Circulate 10 min an hour: mixes the air between rooms at a small cost.
//   - StaleAfter 5 min: sensors report every few seconds, and the daemon
//     re-probes a failing one; five minutes rides out a few lost readings,
//     while a room drifts only hundredths of a degree in that time.
//   - Freeze 5 °C: pipes in outside walls freeze before the room's air
//     reaches 0 °C.
//   - OverTemp 32 °C: above any valid setpoint, below where heat harms
//     people and pets.
//   - MinSetpoint 7 °C, MaxSetpoint 30 °C: beyond them a setpoint is a
//     typo; 7 °C stays clear of freeze protection.
//   - DefaultConfig has a heat relay only, the simplest wiring; the daemon
//     sets the relays that are wired.
package thermostat
