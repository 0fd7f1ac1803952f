# Sourced by the benchmark scripts: how busy the whole machine was while a
# process ran, so that a table can say how much of it other processes took.

busy_ticks() {  # CPU time of the whole machine so far, in clock ticks
  local _cpu user nice system idle iowait irq softirq steal _rest
  read -r _cpu user nice system idle iowait irq softirq steal _rest </proc/stat
  echo $((user + nice + system + irq + softirq + steal))
}
hz=$(getconf CLK_TCK)
