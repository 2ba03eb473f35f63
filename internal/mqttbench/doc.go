// Package mqttbench is the load generator behind `make bench-broker`: it
// runs the same MQTT loads (fan-in bursts at QoS 0 and 1, a QoS 1 round
// trip, idle clients) against Hearth's broker and Debian's mosquitto, each
// started as a separate process, and reports their ratios against the
// broker issue's targets. It speaks MQTT 3.1.1 through a small client of
// its own, so both brokers see identical bytes and the generator's own CPU
// stays small on a 2-core machine it shares with the broker.
package mqttbench
