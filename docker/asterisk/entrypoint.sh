#!/bin/sh
# Write the ivr400 AMI user's secret from the environment (Asterisk's config files cannot read it),
# then run Asterisk in the foreground. manager.conf includes manager.d/*.conf.
set -eu
: "${IVR400_AMI_SECRET:?IVR400_AMI_SECRET must be set}"
umask 027
cat > /etc/asterisk/manager.d/ivr400.conf <<CONF
; written at container start by asterisk-entrypoint from IVR400_AMI_SECRET
[ivr400]
secret = ${IVR400_AMI_SECRET}
deny = 0.0.0.0/0.0.0.0
permit = ${IVR400_AMI_PERMIT:-172.28.40.0/255.255.255.0}
read = cdr
write = command,system
CONF
exec asterisk -f -vvv
