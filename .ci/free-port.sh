#!/usr/bin/env bash
# free-port.sh prints a loopback TCP port that nothing listens on, chosen
# below the kernel's ephemeral range. A port in that range may be the local
# end of a connection out (the tests open thousands): nothing answers on
# it, yet a listener cannot bind it ("address already in use"), which
# failed a CI run's deploy check once.
set -euo pipefail
low=32768
if read -r first _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null; then
	low=$first
fi
base=10000
span=$((low - base))
if ((span < 1000)); then
	base=1024 span=$((low > 2024 ? low - 1024 : 1000))
fi
while :; do
	port=$((base + RANDOM % span))
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || break
done
echo "$port"
