package sim

import (
	"strconv"
	"strings"
	"time"

	"github.com/fsdialer/fsdialer/esl"
)

// startApps runs what follows the answer: execute_on_answer (amd), then the
// originate's application or extension. When the originate's application
// returns, the extension it made has nothing more to run and the switch
// hangs up with NORMAL_CLEARING.
func (s *Switch) startApps(ch *channel) {
	ch.hitDialplan, ch.flipped = true, true
	ch.state, ch.callState, ch.stateNum = "CS_EXECUTE", "ACTIVE", 4
	ch.v.set("endpoint_disposition", "ANSWER")
	ch.v.set("pre_transfer_caller_id_number", ch.cidNum)
	ch.v.set("channel_cid_flipped", "true")
	next := func() {
		switch {
		case ch.isApp:
			s.execute(ch, ch.app, ch.appArg, func() { s.hangup(ch, "NORMAL_CLEARING", true) })
		case ch.exten != "":
			s.runExtension(ch, ch.exten)
		default:
			s.execute(ch, "park", "", nil)
		}
	}
	if onAnswer, _ := ch.v.get("execute_on_answer"); onAnswer != "" {
		name, arg, _ := strings.Cut(onAnswer, " ")
		s.execute(ch, name, arg, next)
		return
	}
	next()
}

// knownApps are the applications of FreeSWITCH 1.10.12 the simulator
// accepts: every SWITCH_ADD_APP of mod_dptools.c, and mod_amd's amd. Any
// other name is switch_core_session_execute_application_get_flags' "Invalid
// Application", which hangs the channel up.
var knownApps = func() map[string]bool {
	m := map[string]bool{"amd": true, "socket": true}
	for _, name := range strings.Fields(`blind_transfer_ack bind_digit_action capture clear_digit_action
		digit_action_set_realm privacy set_audio_level set_mute flush_dtmf hold unhold mutex page transfer
		check_acl verbose_events novideo cng_plc early_hangup sleep delay_echo strftime phrase eval
		set_media_stats stop set_zombie_exec pre_answer answer wait_for_answer wait_for_video_ready hangup
		set_name presence log info event sound_test export bridge_export set multiset push unshift
		set_global set_profile_var unset multiunset capture_text acknowledge_call ring_ready remove_bugs
		break detect_speech play_and_detect_speech ivr redirect video_refresh video_decode send_info
		jitterbuffer send_display respond deflect recovery_refresh reuse_caller_profile queue_dtmf
		send_dtmf sched_cancel sched_hangup sched_broadcast sched_transfer execute_extension
		sched_heartbeat enable_heartbeat filter_codecs enable_keepalive media_reset mkdir rename
		transfer_vars soft_hold bind_meta_app unbind_meta_app block_dtmf unblock_dtmf intercept eavesdrop
		native_eavesdrop three_way set_user stop_dtmf start_dtmf stop_dtmf_generate start_dtmf_generate
		stop_tone_detect fax_detect tone_detect echo park park_state gentones playback broadcast
		endless_playback loop_playback att_xfer read play_and_get_digits stop_video_write_overlay
		video_write_overlay stop_record_session record_session record_session_mask record_session_unmask
		record_session_pause record_session_resume record preprocess stop_displace_session
		displace_session speak clear_speech_cache bridge system bgsystem say detect_audio detect_silence
		wait_for_silence session_loglevel limit limit_hash limit_execute limit_hash_execute pickup
		deduplicate_dtmf vad_test debug_media`) {
		m[name] = true
	}
	return m
}()

// execute runs an application as switch_core_session_exec does: the
// argument is expanded from the channel's variables first (unless
// app_disable_expand_variables is true), CHANNEL_EXECUTE, the application,
// CHANNEL_EXECUTE_COMPLETE with current_application_response. then, if not
// nil, runs when the application returns by itself.
func (s *Switch) execute(ch *channel, name, arg string, then func()) {
	if !knownApps[name] {
		s.log(logErr, "switch_core_session.c:2764 Invalid Application "+name)
		s.hangup(ch, "DESTINATION_OUT_OF_ORDER", true)
		return
	}
	if v, _ := ch.v.get("app_disable_expand_variables"); !switchTrue(v) {
		arg = s.expandOn(ch, arg)
	}
	app := &application{name: name, data: arg, uuid: esl.NewUUID()}
	ch.current = app
	ch.lastApp, ch.lastArg = name, arg
	ch.v.unset("current_loop")
	ch.v.unset("total_loops")
	ch.v.set("current_application", name)
	if arg != "" {
		ch.v.set("current_application_data", arg)
	} else {
		ch.v.unset("current_application_data")
	}
	ch.v.unset("current_application_response")
	if name == "playback" {
		ch.v.set("current_loop", "1")
		ch.v.set("total_loops", "1")
	}
	s.emit("CHANNEL_EXECUTE", ch, s.appHeaders(app, false)...)
	done := func(response string) {
		s.complete(ch, response)
		if then != nil && !ch.hungUp {
			then()
		}
	}
	switch name {
	case "park":
		ch.parked = true
		s.emit("CHANNEL_PARK", ch)
		s.waitInSilence(ch)
	case "playback":
		s.playback(ch, app, arg, done)
	case "amd":
		o := ch.out
		if ch.kind == kindSubscriber && o.amdResult == "" {
			break // no audio on the line: no verdict until something interrupts it
		}
		app.timer = s.after(ch, o.amdDelay, func() {
			verdict, cause := o.amdResult, o.amdCause
			if ch.kind != kindSubscriber {
				verdict, cause = "HUMAN", "HUMAN"
			}
			ch.v.set("amd_result", verdict)
			ch.v.set("amd_cause", cause)
			if then == nil {
				// amd sent by sendmsg: the call goes back to waiting.
				s.complete(ch, "")
				s.execute(ch, "park", "", nil)
				return
			}
			done("")
		})
	case "hangup":
		cause := strings.ToUpper(strings.TrimSpace(arg))
		if cause == "" {
			cause = "NORMAL_CLEARING"
		}
		s.hangup(ch, cause, true)
	case "sleep":
		app.timer = s.after(ch, time.Duration(max(atoi(arg), 0))*time.Millisecond, func() { done("") })
	case "set", "export":
		if n, v, ok := strings.Cut(arg, "="); ok {
			s.setVarChecked(ch, n, v, false)
		}
		done("")
	case "unset":
		ch.v.unset(arg)
		done("")
	case "answer":
		if ch.inbound && !ch.answered() {
			s.answerInbound(ch)
		}
		done("")
	case "pre_answer", "ring_ready", "log", "info", "event", "verbose_events":
		done("")
	case "socket":
		s.socketApp(ch, arg, done)
	case "transfer":
		// mod_dptools' transfer: EXTEN [DIALPLAN [CONTEXT]]; the
		// simulator runs the scenario's extension.
		exten := strings.Fields(arg + " ")[0]
		ch.inSocket = false
		s.complete(ch, "")
		s.runExtension(ch, exten)
	default: // echo and the like: the channel just stays
		s.waitInSilence(ch)
	}
}

// playback is mod_dptools' playback_function over switch_ivr_play_file: a
// file the scenario does not have completes at once with FILE NOT FOUND,
// no file at all with PLAYBACK ERROR, else it plays for the scenario's
// playback time and completes with FILE PLAYED.
func (s *Switch) playback(ch *channel, app *application, arg string, done func(string)) {
	file := arg
	// file@@samples: the first '@' only, as the C's strchr finds it.
	if i := strings.IndexByte(file, '@'); i >= 0 && i+1 < len(file) && file[i+1] == '@' {
		file = file[:i]
	}
	if file == "" {
		done("PLAYBACK ERROR")
		return
	}
	if !s.fileExists(ch, file) {
		s.log(logErr, "switch_core_file.c Can't open "+file)
		done("FILE NOT FOUND")
		return
	}
	if !hasPrefixFold(file, "local_stream://") { // music on hold is nobody
		s.hear(ch)
	}
	length := s.playbackLength(ch, arg)
	app.timer = s.after(ch, length, func() {
		ms := strconv.FormatInt(length.Milliseconds(), 10)
		ch.v.set("playback_last_offset_pos", strconv.FormatInt(length.Milliseconds()*8, 10))
		ch.v.set("playback_seconds", strconv.FormatInt(int64(length/time.Second), 10))
		ch.v.set("playback_ms", ms)
		ch.v.set("playback_samples", strconv.FormatInt(length.Milliseconds()*8, 10))
		done("FILE PLAYED")
	})
}

// fileExists resolves a playback argument as switch_ivr_play_file does and
// asks the scenario: phrase: and say: play; a path with no "://" that does
// not start with '/' is under sound_prefix (the channel's, else the
// scenario's); a path whose last '.' is missing is tried with the codec's
// name (.PCMU) and then native_backup_extension (.wav).
func (s *Switch) fileExists(ch *channel, file string) bool {
	if hasPrefixFold(file, "phrase:") || hasPrefixFold(file, "say:") {
		return true
	}
	if strings.Contains(file, "://") {
		return s.sc.Files.exists(file)
	}
	path := file
	for strings.HasPrefix(path, "{") {
		// {params}: the switch loops forever on an unclosed one.
		b := newCbuf(path)
		e := b.findEndParen(0, '{', '}')
		if e < 0 {
			return false
		}
		path = strings.TrimLeft(path[e+1:], " ")
	}
	if !strings.HasPrefix(path, "/") {
		prefix, ok := ch.v.get("sound_prefix")
		if !ok {
			prefix = s.sc.Files.SoundPrefix
		}
		path = prefix + "/" + path
	}
	if !strings.Contains(path, ".") {
		backup, ok := ch.v.get("native_backup_extension")
		if !ok {
			backup = "wav"
		}
		return s.sc.Files.exists(path+".PCMU") || s.sc.Files.exists(path+"."+backup)
	}
	return s.sc.Files.exists(path)
}

func hasPrefixFold(s, prefix string) bool {
	_, ok := cutPrefixFold(s, prefix)
	return ok
}

// expandOn expands variables in s from the channel, as
// switch_channel_expand_variables does.
func (s *Switch) expandOn(ch *channel, in string) string {
	x := expander{
		lookup: func(name string) (string, bool) {
			if v, ok := ch.v.get(name); ok {
				return v, true
			}
			return s.profileField(ch, name)
		},
		api: s.apiExpansion,
	}
	return x.expand(in, 0)
}

// profileField is switch_caller_get_field_by_name: the caller profile's
// fields read as variables when no variable has the name.
func (s *Switch) profileField(ch *channel, name string) (string, bool) {
	switch strings.ToLower(name) {
	case "destination_number", "callee_id_number":
		return ch.dest, true
	case "caller_id_number", "ani", "orig_caller_id_number":
		return ch.cidNum, true
	case "caller_id_name":
		return ch.cidName, true
	case "callee_id_name":
		return "Outbound Call", true
	case "uuid":
		return ch.uuid, true
	case "context":
		return ch.context, true
	case "chan_name":
		return ch.name, true
	case "source":
		return "src/switch_ivr_originate.c", true
	case "profile_index":
		return strconv.Itoa(ch.profileIndex), true
	case "dialplan":
		return "", true
	}
	return "", false
}

// apiExpansion runs the api command of a ${cmd args} expansion; s.mu is
// held, so only commands that answer at once take part.
func (s *Switch) apiExpansion(cmd, args string) (string, bool) {
	out, found := s.apiLocked(cmd, args)
	if !found {
		s.log(logErr, "fsim: the api expansion ${"+cmd+" ...} is not simulated")
		return "", false
	}
	return out, true
}

func (s *Switch) playbackLength(ch *channel, file string) time.Duration {
	r := s.sc.rng("playback:"+file, ch.sessionID)
	return s.sc.Playback.Draw(r)
}

// appHeaders are the Application-* headers of EXECUTE and EXECUTE_COMPLETE.
func (s *Switch) appHeaders(app *application, complete bool) []kv {
	h := []kv{{"Application", app.name}}
	if app.data != "" {
		h = append(h, kv{"Application-Data", app.data})
	}
	if complete {
		resp := app.response
		if resp == "" {
			resp = "_none_"
		}
		h = append(h, kv{"Application-Response", resp})
	}
	if app.uuid != "" { // applications run by uuid_bridge have none
		h = append(h, kv{"Application-UUID", app.uuid})
	}
	return h
}

// complete fires EXECUTE_COMPLETE of the running application.
func (s *Switch) complete(ch *channel, response string) {
	app := ch.current
	if app == nil {
		return
	}
	if response != "" {
		app.response = response
		ch.v.set("current_application_response", response)
	} else if r, ok := ch.v.get("current_application_response"); ok {
		app.response = r
	}
	if app.timer != nil {
		app.timer.Stop()
	}
	ch.current = nil
	s.emit("CHANNEL_EXECUTE_COMPLETE", ch, s.appHeaders(app, true)...)
}

// stopCurrent ends the running application early (a transfer, a bridge).
func (s *Switch) stopCurrent(ch *channel) {
	if ch.parked {
		ch.parked = false
		s.emit("CHANNEL_UNPARK", ch)
	}
	s.complete(ch, "")
}

// inlineApp is one application of an inline dialplan.
type inlineApp struct{ name, arg string }

// inlineApps reads an inline dialplan as mod_dptools' inline_dialplan_hunt
// does: applications split at commas (or at the delimiter X of a leading
// "m:X:"), each "name:arg" split at its first colon, leading blanks of a
// name dropped.
func inlineApps(target string) []inlineApp {
	delim := ","
	if len(target) >= 4 && target[0] == 'm' && target[1] == ':' && target[3] == ':' {
		delim, target = target[2:3], target[4:]
	}
	var apps []inlineApp
	for _, part := range strings.Split(target, delim) {
		name, arg, _ := strings.Cut(part, ":")
		if name = strings.TrimLeft(name, " "); name != "" {
			apps = append(apps, inlineApp{name, arg})
		}
	}
	return apps
}

// runInline runs an inline extension's applications in turn; when the
// last one returns with the channel up, the extension is over and the
// switch hangs up with NORMAL_CLEARING.
func (s *Switch) runInline(ch *channel, apps []inlineApp) {
	if len(apps) == 0 {
		s.hangup(ch, "NO_ROUTE_DESTINATION", true)
		return
	}
	s.execute(ch, apps[0].name, apps[0].arg, func() {
		if len(apps) == 1 {
			s.hangup(ch, "NORMAL_CLEARING", true)
			return
		}
		s.runInline(ch, apps[1:])
	})
}

// runExtension runs a dialplan extension: it plays for its duration and
// hangs up; an unknown extension hangs up with NO_ROUTE_DESTINATION.
func (s *Switch) runExtension(ch *channel, exten string) {
	x, ok := s.sc.Extensions[exten]
	if !ok {
		s.hangup(ch, "NO_ROUTE_DESTINATION", true)
		return
	}
	length := x.Duration.Draw(s.sc.rng("exten:"+exten, ch.sessionID))
	app := &application{name: "playback", data: exten, uuid: esl.NewUUID()}
	ch.current = app
	ch.lastApp, ch.lastArg = app.name, app.data
	ch.v.set("current_application", app.name)
	s.emit("CHANNEL_EXECUTE", ch, s.appHeaders(app, false)...)
	s.hear(ch)
	app.timer = s.after(ch, length, func() {
		s.complete(ch, "FILE PLAYED")
		s.hangup(ch, "NORMAL_CLEARING", true)
	})
}
