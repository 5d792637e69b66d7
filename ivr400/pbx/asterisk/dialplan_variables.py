"""Channel variable names shared by the rendered dialplan and the FastAGI routes (one place, no typos).

Contract ("AGI decides, dialplan dials"): a FastAGI hook sets these variables and returns at once;
the dialplan then plays, waits for keys and dials. When a hook fails (AGISTATUS != SUCCESS) or
does not set IVR400_ACTION / IVR400_TARGET_COUNT, the dialplan takes the static plan rendered
beside it from routable destinations only.
"""
from __future__ import annotations

# --- set by the dialplan before calling a hook (read by the controller through agi_* / GET VARIABLE)
HOTLINE = "IVR400_HOTLINE"          # the 400 number being called
DEPT_PATH = "IVR400_DEPT_PATH"      # key path of the department being hunted ("" = switchboard, "2", "2.1")
KEY_PATH = "IVR400_KEYS"            # keys pressed so far, e.g. "2-1" (for the CDR's key path)
VOICEMAIL_FILE = "IVR400_VM_FILE"   # recording path of the voicemail just taken (chroot-internal)
FAX_FILE = "IVR400_FAX_FILE"        # TIFF path of the fax being received (chroot-internal)
FAX_MODE = "IVR400_FAX_MODE"        # read at call entry (the route hook may override): off | detect | key (传真)

# --- set by the `route` hook at call entry
ACTION = "IVR400_ACTION"            # menu | department | voicemail | announcement | refuse
ACTION_DEPT = "IVR400_ACTION_DEPT"  # department key path when ACTION=department
PROMPT = "IVR400_PROMPT"            # sound to play for announcement/refuse (ivr400/...)
REFUSE_WITH = "IVR400_REFUSE_WITH"  # busy | prompt

# --- set by the `department` hook before hunting (and by `route` when ACTION=department)
TARGET_COUNT = "IVR400_TARGET_COUNT"        # number of dial targets, 0 = nobody routable now
TARGET_PREFIX = "IVR400_TARGET_"            # IVR400_TARGET_1 .. _N: Asterisk dial strings, hunt order
TIMEOUT_PREFIX = "IVR400_TIMEOUT_"          # IVR400_TIMEOUT_1 .. _N: ring seconds per target
HUNT = "IVR400_HUNT"                        # sequential | simultaneous (round robin arrives rotated)
RING_TIMEOUT = "IVR400_RING_TIMEOUT"        # simultaneous ring: seconds for the whole group
MOH_CLASS = "IVR400_MOH"                    # musiconhold class heard while seats ring (彩铃); "" = ringing

# --- written by the dialplan for CDR (AMI VarSet / Cdr events carry them)
DECIDED_BY = "IVR400_DECIDED_BY"    # controller | static | mixed: who decided the routing ("" = nobody yet)
SEAT_REACHED = "IVR400_SEAT"        # dial string of the seat that answered
DISPOSITION = "IVR400_DISPOSITION"  # how the call ended: one of ivr400.cdr.cdr_model.DISPOSITIONS (answered, fax, ...)
DIALLED = "IVR400_DIALLED"          # the number dialled, when it is no hotline (the call record's number)

#: FastAGI route names (agi://host:port/<route>), one module each under ivr400/controller/routes/.
ROUTE_CALL = "route"
ROUTE_DEPARTMENT = "department"
ROUTE_VOICEMAIL = "voicemail_saved"
ROUTE_FAX = "fax_received"
ROUTE_SURVEY = "survey_saved"       # 满意度评价: agi://.../survey_saved?hotline=<n>&score=<1-5>


def target(i: int) -> str:
    return f"{TARGET_PREFIX}{i}"


def timeout(i: int) -> str:
    return f"{TIMEOUT_PREFIX}{i}"

# --- added with the renderer (ivr400.render): used only inside the rendered dialplan, except where noted
MENU_TRIES = "IVR400_MENU_TRIES"    # prompts played so far at the current menu level (retry counter)
HUNT_START = "IVR400_HUNT_START"    # 1-based index the hunt starts at ("" = 1); the static round robin sets it
MAX_ATTEMPTS = "IVR400_MAX_ATTEMPTS"  # transfer cap: at most this many targets tried in turn (0 / "" = all)
RR_GLOBAL_PREFIX = "IVR400_RR_"     # GLOBAL(IVR400_RR_<hotline>_<dept digits or SB>): static round-robin position

#: Where the dialplan records voicemail (as Asterisk sees it): <VOICEMAIL_SPOOL>/<hotline>/<UNIQUEID>.wav
VOICEMAIL_SPOOL = "/var/spool/asterisk/ivr400/voicemail"
#: Where the dialplan receives faxes (传真, as Asterisk sees it): <FAX_SPOOL>/<hotline>/<UNIQUEID>.tif
FAX_SPOOL = "/var/spool/asterisk/ivr400/fax"
#: AMI UserEvent sent once a voicemail file exists (headers Hotline, Dept, File, Caller, Uniqueid).
USEREVENT_VOICEMAIL = "IVR400Voicemail"

# --- CDR variables (Set(CDR(name)=...)), exported by cdr_manager / cdr_custom for the call records
CDR_HOTLINE = "ivr400_hotline"
CDR_KEYS = "ivr400_keys"
CDR_DEPT = "ivr400_dept"
CDR_SEAT = "ivr400_seat"
CDR_DISPOSITION = "ivr400_disp"
CDR_RECORDING = "ivr400_rec"
CDR_DECIDED_BY = "ivr400_decided_by"
CDR_HUNT_AT = "ivr400_hunt"         # epoch seconds when the first seat was rung (the IVR was done); "" = never
CDR_SEAT_ANSWER = "ivr400_seat_answer"  # epoch s (ms precision) when the seat answered; "" = no seat answered
#: The one CDR variable the call-record hangup handler sets (one CDR() write costs Asterisk a hand-off to its CDR
#: thread): CDR_KEYS .. CDR_SEAT_ANSWER in that order (ivr400.cdr.cdr_model.PACKED_COLUMNS), each CSV-quoted and
#: comma-joined, so cdr_custom writes it into the CSV line as it is. CDR_HOTLINE is written on its own, just before
#: it: a CDR() write waits for the CDR thread, whose queue grows with the load, so none is on the way to the answer.
CDR_CALL = "ivr400_call"
#: Channel variable holding the epoch of the hunt's start until the hangup handler copies it to the CDR.
HUNT_AT = "IVR400_HUNT_AT"
#: Set on the caller's channel (MASTER_CHANNEL) by Dial's U() on the seat's channel when the seat answers.
SEAT_ANSWER_AT = "IVR400_SEAT_ANSWER_AT"
#: The hunt engine's own state (ivr400-hunt: jumped to, not Gosub'd, so plain channel variables): the dial string
#: being tried, the department's marks read for it (AstDB h/<hotline>/b<dept id>), how many targets were taken so
#: far, and (simultaneous) the &-joined dial strings that will ring.
HUNT_TARGET = "IVR400_HUNT_T"
HUNT_MARKS = "IVR400_HUNT_MARKS"
HUNT_TAKEN = "IVR400_HUNT_K"
HUNT_RING = "IVR400_HUNT_ALL"

#: Set by the FastAGI server after each route: OK when the handler completed (see fastagi.STATUS_VARIABLE).
AGI_STATUS = "IVR400_AGI_STATUS"
#: "down" once a hook failed in this call (AGISTATUS != SUCCESS): the call's later hooks are skipped so a
#: controller outage costs the caller one connect timeout, not one per hook.
AGI_STATE = "IVR400_AGI"
#: FreeSWITCH: answered calls of a hotline with record_calls, the file record_session writes. Asterisk sets no
#: such variable: the hunt passes <RECORDING_DIR>/<UNIQUEID>.wav (chroot-internal, mode 0640 once closed) to
#: MixMonitor through Dial's U(ivr400-record), and the call-record hangup handler puts the same name in
#: CDR(ivr400_rec) when a seat answered.
RECORDING_FILE = "IVR400_REC_FILE"
#: Read at call entry from the hotline's data: <RECORDING_SPOOL>/<hotline> when it records calls, else "".
RECORDING_DIR = "IVR400_REC_DIR"
RECORDING_SPOOL = "/var/spool/asterisk/ivr400/recordings"

# --- the call's own copy of the plan (issue #8: a call in progress survives any deploy). The hotlines' data lives
# in Asterisk's database (AstDB family ASTDB_FAMILY, dialplans/asterisk/_hotline.j2): each value is read and
# applied in a single MSet step, so a deploy between two steps can never mix two versions of a hotline's value,
# and the dialplan a call runs in is the same for every hotline.
#: AstDB family holding every hotline's data (keys h/<number>/..., m/<number>[-<digits>]/...).
ASTDB_FAMILY = "ivr400"
#: Asterisk: the hotline's settings read at call entry, one variable of `|`-joined fields (welcome | static action |
#: after | recording dir | survey | fax mode), each taken with CUT where used; FreeSWITCH sets them one by one.
SETTINGS = "IVR400_SETTINGS"
WELCOME = "IVR400_WELCOME"          # the hotline's welcome tone (sound name), read at call entry
STATIC_ACTION = "IVR400_STATIC"     # what the static plan does at entry: menu | department (the switchboard)
AFTER = "IVR400_AFTER"              # after a hunt nobody answered: voicemail | goodbye (read at call entry)
PLAN = "IVR400_PLAN"                # version of the hotline's plan the hunt list was read from (v<sha1>)
DEPT_ID = "IVR400_DEPT_ID"          # row id of the department hunted (0 = switchboard), with every hunt list
RR = "IVR400_RR"                    # static round robin: name of the GLOBAL holding its position ("" = none)
MENU_PATH = "IVR400_MENU_PATH"      # menu level being played ("" = the top menu, "2", "2.2")
MENU_PROMPT = "IVR400_MENU_PROMPT"  # read from the level's data: the prompt,
#: Asterisk: the rest of the level's data in one variable, `|`-joined: MENU_TIMEOUT | MENU_RETRIES | MENU_FINAL.
MENU_SETTINGS = "IVR400_MENU_SETTINGS"
MENU_TIMEOUT = "IVR400_MENU_TIMEOUT"  # seconds to wait for a key after it,
MENU_RETRIES = "IVR400_MENU_RETRIES"  # prompts before giving up,
MENU_FINAL = "IVR400_MENU_FINAL"    # and the department hunted then ("" = the switchboard)
KEY = "IVR400_KEY"                  # the key just pressed
NEXT = "IVR400_NEXT"                # read from the key's data: department | menu,
NEXT_PATH = "IVR400_NEXT_PATH"      # and its key path

# --- 满意度评价 (post-call satisfaction survey)
SURVEY = "IVR400_SURVEY"            # read at call entry: the survey prompt, "" = this hotline does not survey
SURVEY_SCORE = "IVR400_SURVEY_SCORE"  # the key the caller pressed after the survey prompt (1-5 stored)
SURVEY_TRIES = "IVR400_SURVEY_TRIES"  # times the survey prompt was played (at most 2)

# --- WEB呼叫 (click-to-call): the visitor's originated channel
C2C_TARGET = "IVR400_C2C_TARGET"    # the visitor's number (AMI Originate Variable), the caller once connected
C2C_TRIES = "IVR400_C2C_TRIES"      # times the consent prompt was played (at most 2)
