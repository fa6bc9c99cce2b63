"""DX7 voice data and sysex files: decoding, round trips, ranges, errors."""

import contextlib
import json
import warnings
from pathlib import Path

import pytest

from ddsp_lab.dx7 import (
    PARAMETER_RANGES,
    DX7RangeWarning,
    Operator,
    SysexChecksumWarning,
    SysexError,
    Voice,
    bank_bytes,
    checksum,
    read_syx,
    voice_bytes,
    write_bank,
    write_voice,
)

LOCAL_ROM1A = Path(__file__).resolve().parent / "data" / "dx7" / "rom1a.syx"
SHARED = Path(__file__).resolve().parents[2] / "shared"
FACTORY = SHARED / "data" / "dx7" / "factory_rom"
REFERENCE_VOICES = SHARED / "reference" / "dx7" / "voices"
MANIFEST = SHARED / "data" / "manifest.json"

CLEAN_BANKS = ["rom1a", "rom1b", "rom2a", "rom2b", "rom4b"]

# Voice names of ROM 1A as printed on the cartridge (stripped of padding).
ROM1A_NAMES = [
    "BRASS   1", "BRASS   2", "BRASS   3", "STRINGS 1", "STRINGS 2", "STRINGS 3", "ORCHESTRA",
    "PIANO   1", "PIANO   2", "PIANO   3", "E.PIANO 1", "GUITAR  1", "GUITAR  2", "SYN-LEAD 1",
    "BASS    1", "BASS    2", "E.ORGAN 1", "PIPES   1", "HARPSICH 1", "CLAV    1", "VIBE    1",
    "MARIMBA", "KOTO", "FLUTE   1", "ORCH-CHIME", "TUB BELLS", "STEEL DRUM", "TIMPANI",
    "REFS WHISL", "VOICE   1", "TRAIN", "TAKE OFF",
]

# Dexed's initialised voice as 155 VCED bytes (PluginProcessor.cpp resetToInitVoice).
DEXED_INIT_VCED = (
    [99, 99, 99, 99, 99, 99, 99, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 7] * 5
    + [99, 99, 99, 99, 99, 99, 99, 0, 0, 0, 0, 0, 0, 0, 0, 0, 99, 0, 1, 0, 7]
    + [99, 99, 99, 99, 50, 50, 50, 50, 0, 0, 1, 35, 0, 0, 0, 1, 0, 3, 24]
    + list(b"INIT VOICE")
)


def _factory(bank):
    path = FACTORY / f"{bank}.syx"
    if not path.is_file():
        pytest.skip(f"factory bank {path} not available")
    return path


@contextlib.contextmanager
def _no_warnings():
    """Context in which any warning fails the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def _care_mask(bank_length=4104):
    """Per-byte mask of the bits a 32-voice bank really uses (from the format sheet)."""
    operator_masks = [0x7F] * 17
    operator_masks[11] = 0x0F  # 0 0 0 | RC | LC
    operator_masks[13] = 0x1F  # 0 0 | KVS | AMS
    operator_masks[15] = 0x3F  # 0 | FC | M
    voice_masks = operator_masks * 6 + [0x7F] * 26
    voice_masks[110] = 0x1F  # 0 0 | ALG
    voice_masks[111] = 0x0F  # 0 0 0 | OKS | FB
    assert len(voice_masks) == 128
    return [0xFF] * 6 + voice_masks * 32 + [0xFF, 0xFF]


# --------------------------------------------------------------- local bank


def test_local_rom1a_names_and_byte_exact_round_trip(tmp_path):
    original = LOCAL_ROM1A.read_bytes()
    assert len(original) == 4104
    with _no_warnings():
        voices = read_syx(LOCAL_ROM1A)
        written = bank_bytes(voices)
        out = write_bank(tmp_path / "copy.syx", voices)
    assert len(voices) == 32
    assert voices[0].name == "BRASS   1 "
    assert [v.display_name for v in voices] == ROM1A_NAMES
    assert written == original
    assert out.read_bytes() == original


def test_brass1_fields_against_published_values():
    # Values of ROM 1A voice 0 as listed in the decoded reference voice (brass1.json);
    # copied here so that the check runs without the shared folder.
    brass = read_syx(LOCAL_ROM1A)[0]
    assert brass.algorithm == 22 and brass.feedback == 7 and brass.osc_key_sync is True
    assert brass.pitch_eg_rates == [84, 95, 95, 60] and brass.pitch_eg_levels == [50, 50, 50, 50]
    assert (brass.lfo_speed, brass.lfo_delay, brass.lfo_pitch_mod_depth, brass.lfo_amp_mod_depth) == (37, 0, 5, 0)
    assert (brass.lfo_key_sync, brass.lfo_waveform, brass.pitch_mod_sensitivity, brass.transpose) == (False, 4, 3, 24)
    op6 = brass.operator(6)
    assert op6 is brass.operators[5]
    assert op6.eg_rates == [49, 99, 28, 68] and op6.eg_levels == [98, 98, 91, 0]
    assert (op6.breakpoint, op6.left_depth, op6.right_depth, op6.left_curve, op6.right_curve) == (39, 54, 50, 1, 1)
    assert (op6.rate_scaling, op6.amp_mod_sensitivity, op6.velocity_sensitivity, op6.output_level) == (4, 0, 2, 82)
    assert (op6.fixed_frequency, op6.coarse, op6.fine, op6.detune) == (False, 1, 0, 7)
    op1 = brass.operator(1)
    assert op1.eg_rates == [72, 76, 99, 71] and op1.right_depth == 14 and op1.output_level == 98
    assert (op1.coarse, op1.detune) == (0, 14)
    assert op1.frequency_ratio == 0.5
    assert brass.routing.carriers == (1, 3, 4, 5)


def test_init_voice_matches_dexed():
    assert list(Voice().to_vced()) == DEXED_INIT_VCED
    assert Voice.from_vced(bytes(DEXED_INIT_VCED)) == Voice()


def test_vced_packed_and_dict_round_trips_for_every_rom1a_voice():
    for index, voice in enumerate(read_syx(LOCAL_ROM1A)):
        assert Voice.from_vced(voice.to_vced()) == voice, index
        assert Voice.from_packed(voice.to_packed()) == voice, index
        as_json = json.loads(json.dumps(voice.to_dict()))
        assert Voice.from_dict(as_json) == voice, index
        assert [op["op"] for op in as_json["operators"]] == [1, 2, 3, 4, 5, 6]


def test_packed_and_vced_layouts_put_op6_first():
    voice = Voice()
    voice.operator(6).output_level = 42
    voice.operator(1).output_level = 17
    voice.algorithm = 5
    vced, packed = voice.to_vced(), voice.to_packed()
    assert vced[16] == 42 and vced[105 + 16] == 17 and vced[134] == 4
    assert packed[14] == 42 and packed[85 + 14] == 17 and packed[110] == 4


def test_packed_bit_fields_follow_the_format_sheet():
    op = Operator(left_curve=2, right_curve=3, rate_scaling=5, detune=14, amp_mod_sensitivity=3,
                  velocity_sensitivity=6, fixed_frequency=True, coarse=31, fine=99)
    voice = Voice(operators=[op] + [Operator() for _ in range(5)], feedback=6, osc_key_sync=True,
                  lfo_key_sync=True, lfo_waveform=5, pitch_mod_sensitivity=7)
    packed = voice.to_packed()
    block = packed[85:102]  # OP1 is the last block
    assert block[11] == 2 | (3 << 2)
    assert block[12] == 5 | (14 << 3)
    assert block[13] == 3 | (6 << 2)
    assert block[15] == 1 | (31 << 1)
    assert block[16] == 99
    assert packed[111] == 6 | (1 << 3)
    assert packed[116] == 1 | (5 << 1) | (7 << 4)


# ------------------------------------------------------------ factory banks


@pytest.mark.parametrize("bank", ["rom1a", "rom1b", "rom2a", "rom2b", "rom3a", "rom3b", "rom4a", "rom4b"])
def test_every_factory_bank_parses_with_expected_names(bank):
    path = _factory(bank)
    if not MANIFEST.is_file():
        pytest.skip("manifest.json not available")
    entry = next(e for e in json.loads(MANIFEST.read_text()) if e["file"] == f"dx7/factory_rom/{bank}.syx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DX7RangeWarning)
        voices = read_syx(path)
    assert len(voices) == 32
    assert [v.display_name for v in voices] == entry["voice_names"]


@pytest.mark.parametrize("bank", CLEAN_BANKS)
def test_clean_factory_banks_round_trip_byte_exact_without_warnings(bank):
    path = _factory(bank)
    with _no_warnings():
        written = bank_bytes(read_syx(path))
    assert written == path.read_bytes()


def test_rom4a_keeps_its_out_of_range_level_and_round_trips_byte_exact():
    path = _factory("rom4a")
    with pytest.warns(DX7RangeWarning) as record:
        voices = read_syx(path)
    messages = [str(w.message) for w in record]
    assert len(messages) == 1
    assert "voice index 7" in messages[0] and "OP5 eg_levels[3] = 127" in messages[0]
    assert voices[7].operator(5).eg_levels[3] == 127
    with pytest.warns(DX7RangeWarning, match="OP5 eg_levels"):
        written = bank_bytes(voices)
    assert written == path.read_bytes()


@pytest.mark.parametrize(
    "bank, expected",
    [
        ("rom3a", {(19, "OP2 eg_levels[2] = 127")}),
        ("rom3b", {(1, "OP6 eg_rates[0] = 127"), (14, "OP1 fine = 100")}),
    ],
)
def test_junk_banks_differ_only_in_dont_care_bits(bank, expected):
    path = _factory(bank)
    original = path.read_bytes()
    with pytest.warns(DX7RangeWarning) as record:
        voices = read_syx(path)
    found = set()
    for w in record:
        text = str(w.message)
        index = int(text.split("voice index ")[1].split()[0])
        found.add((index, text.split(": ", 1)[1].split(" is outside")[0]))
    assert found == expected
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DX7RangeWarning)
        written = bank_bytes(voices)
        reread = read_syx(written)
    mask = _care_mask()
    junk = {i for i, (b, m) in enumerate(zip(original, mask)) if 6 <= i < 4102 and b & ~m}
    changed = {i for i, (a, b) in enumerate(zip(original, written)) if a != b and 6 <= i < 4102}
    # The bank really has junk (else this test would prove nothing), and only
    # the junk bits changed.
    assert junk
    assert changed == junk
    assert all((a ^ b) & m == 0 for a, b, m in zip(original[6:4102], written[6:4102], mask[6:4102]))
    assert written[:6] == original[:6] and written[-1] == 0xF7
    assert written[-2] == checksum(written[6:4102])
    assert reread == voices


def test_reference_voices_match_decoded_bytes_and_fields():
    if not REFERENCE_VOICES.is_dir():
        pytest.skip("reference voices not available")
    files = sorted(REFERENCE_VOICES.glob("*.json"))
    assert files
    op_fields = {
        "BP": "breakpoint", "LD": "left_depth", "RD": "right_depth", "LC": "left_curve",
        "RC": "right_curve", "RS": "rate_scaling", "AMS": "amp_mod_sensitivity",
        "KVS": "velocity_sensitivity", "OL": "output_level", "COARSE": "coarse", "FINE": "fine",
        "DETUNE": "detune",
    }
    banks = {}
    for file in files:
        ref = json.loads(file.read_text())
        bank = Path(ref["source"]).stem
        if bank not in banks:
            banks[bank] = read_syx(_factory(bank))
        voice = banks[bank][ref["index"]]
        label = f"{file.name} ({bank} index {ref['index']})"
        assert list(voice.to_vced()) == ref["vced155"], label
        assert voice.name == ref["name"], label
        assert voice.algorithm == ref["algorithm"], label
        assert voice.feedback == ref["feedback"] and int(voice.osc_key_sync) == ref["osc_key_sync"], label
        assert voice.transpose == ref["transpose"], label
        assert voice.pitch_eg_rates == ref["pitch_eg"]["R"] and voice.pitch_eg_levels == ref["pitch_eg"]["L"], label
        lfo = ref["lfo"]
        assert (voice.lfo_speed, voice.lfo_delay, voice.lfo_pitch_mod_depth, voice.lfo_amp_mod_depth) == (
            lfo["speed"], lfo["delay"], lfo["pmd"], lfo["amd"]), label
        assert (int(voice.lfo_key_sync), voice.lfo_waveform, voice.pitch_mod_sensitivity) == (
            lfo["sync"], lfo["wave"], lfo["pms"]), label
        assert [op["op"] for op in ref["ops"]] == [6, 5, 4, 3, 2, 1]
        for op_ref in ref["ops"]:
            op = voice.operator(op_ref["op"])
            assert op.eg_rates == [op_ref[f"R{i}"] for i in range(1, 5)], label
            assert op.eg_levels == [op_ref[f"L{i}"] for i in range(1, 5)], label
            assert int(op.fixed_frequency) == op_ref["MODE"], label
            for key, attribute in op_fields.items():
                assert getattr(op, attribute) == op_ref[key], f"{label} OP{op_ref['op']} {key}"


# ------------------------------------------------------------- single voice


def test_single_voice_write_read_round_trip(tmp_path):
    voice = read_syx(LOCAL_ROM1A)[10]  # E.PIANO 1
    path = write_voice(tmp_path / "epiano.syx", voice)
    data = path.read_bytes()
    assert len(data) == 163
    assert data[:6] == bytes([0xF0, 0x43, 0x00, 0x00, 0x01, 0x1B]) and data[-1] == 0xF7
    assert data[161] == checksum(data[6:161])
    assert data[6:161] == voice.to_vced()
    (reread,) = read_syx(path)
    assert reread == voice
    assert voice_bytes(reread) == data
    assert [p.name for p in tmp_path.iterdir()] == ["epiano.syx"]


def test_midi_channel_is_written_and_accepted():
    voice = Voice(name="CHANNEL 3")
    data = voice_bytes(voice, midi_channel=3)
    assert data[2] == 2
    assert read_syx(data) == [voice]
    bank = bank_bytes([voice], midi_channel=16)
    assert bank[2] == 15
    assert read_syx(bank)[0] == voice
    with pytest.raises(ValueError, match="midi_channel"):
        voice_bytes(voice, midi_channel=0)


def test_back_to_back_messages_are_all_read():
    bank = LOCAL_ROM1A.read_bytes()
    single = voice_bytes(Voice(name="EXTRA"))
    voices = read_syx(single + bank + single)
    assert len(voices) == 34
    assert voices[0].display_name == "EXTRA" and voices[33].display_name == "EXTRA"
    assert voices[1:33] == read_syx(bank)


def test_short_bank_is_padded_with_init_voices_and_long_bank_rejected(tmp_path):
    rom = read_syx(LOCAL_ROM1A)
    path = write_bank(tmp_path / "three.syx", rom[:3])
    voices = read_syx(path)
    assert len(voices) == 32
    assert voices[:3] == rom[:3]
    assert all(v == Voice() for v in voices[3:])
    with pytest.raises(ValueError, match="at most 32"):
        bank_bytes(rom + rom[:1])
    with pytest.raises(TypeError, match=r"voices\[1\]"):
        bank_bytes([rom[0], "not a voice"])


def test_write_is_atomic_and_failure_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "bank.syx"
    path.write_bytes(b"old contents")
    import ddsp_lab.dx7.sysex as sysex_module

    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(sysex_module.os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        write_bank(path, [Voice()])
    assert path.read_bytes() == b"old contents"
    assert [p.name for p in tmp_path.iterdir()] == ["bank.syx"]
    monkeypatch.undo()
    write_bank(path, [Voice()])
    assert len(path.read_bytes()) == 4104
    assert [p.name for p in tmp_path.iterdir()] == ["bank.syx"]


# ---------------------------------------------------------------- bad input


def _bad_file(tmp_path, payload, name="bad.syx"):
    path = tmp_path / name
    path.write_bytes(payload)
    return path


def _corrupt(offset, value):
    data = bytearray(LOCAL_ROM1A.read_bytes())
    data[offset] = value
    return bytes(data)


@pytest.mark.parametrize(
    "payload, pattern",
    [
        (b"", "empty"),
        (b"This is a text file, not a patch.\n", "text file"),
        (LOCAL_ROM1A.read_bytes()[:4000], "truncated.*4104"),
        (LOCAL_ROM1A.read_bytes()[1:], "not a sysex file.*0x43"),
        (LOCAL_ROM1A.read_bytes()[:-1] + b"\xf0", "missing its closing F7"),
        (LOCAL_ROM1A.read_bytes()[:-2] + b"\xf7", "wrong length: 4103"),
        (LOCAL_ROM1A.read_bytes() + b"\x00\x01", "unexpected byte 0x00 at offset 4104"),
        (_corrupt(1, 0x41), "manufacturer id 0x41 is not Yamaha"),
        (_corrupt(3, 0x05), "unknown format byte 0x05"),
        (_corrupt(4, 0x10), "byte count"),
        (_corrupt(4102, 0x00), "checksum mismatch"),
        (_corrupt(100, 0x01), "checksum mismatch"),
        (bytes([0xF0, 0x43, 0x10, 0x01, 0x02, 0x05, 0xF7]), "sub-status 1"),
        (bytes([0xF0, 0x43, 0xF7]), "too short"),
    ],
    ids=["empty", "text", "truncated", "no-F0", "no-F7", "short", "trailing", "manufacturer",
         "format", "byte-count", "checksum-byte", "data-byte", "parameter-change", "tiny"],
)
def test_corrupt_files_raise_sysex_error_naming_file_and_problem(tmp_path, payload, pattern):
    path = _bad_file(tmp_path, payload)
    with pytest.raises(SysexError, match=pattern) as info:
        read_syx(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_checksum_mismatch_can_be_read_with_strict_false():
    damaged = _corrupt(4102, (LOCAL_ROM1A.read_bytes()[4102] + 1) & 0x7F)
    with pytest.raises(SysexError, match="<bytes>: checksum mismatch"):
        read_syx(damaged)
    with pytest.warns(SysexChecksumWarning, match="checksum mismatch"):
        voices = read_syx(damaged, strict=False)
    assert voices == read_syx(LOCAL_ROM1A)


def test_bad_source_types_and_missing_file(tmp_path):
    with pytest.raises(TypeError, match="source"):
        read_syx(123)
    with pytest.raises(FileNotFoundError):
        read_syx(tmp_path / "missing.syx")
    with pytest.raises(ValueError, match="155 bytes"):
        Voice.from_vced(b"\x00" * 154)
    with pytest.raises(ValueError, match="128 bytes"):
        Voice.from_packed(b"\x00" * 129)
    with pytest.raises(TypeError, match="data"):
        Voice.from_packed("x" * 128)


# ------------------------------------------------------------------- ranges


def test_out_of_range_values_warn_and_clamp_naming_the_parameter():
    voice = Voice()
    voice.operator(3).output_level = 120  # storable in 7 bits, outside 0..99
    voice.operator(2).coarse = 40  # does not fit the 5-bit field
    voice.operator(4).eg_rates[1] = -5
    voice.transpose = 60
    assert {label for label, _, _ in voice.range_violations()} == {
        "OP3 output_level", "OP2 coarse", "OP4 eg_rates[1]", "transpose"}

    with pytest.warns(DX7RangeWarning) as record:
        packed = voice.to_packed()
    text = " | ".join(str(w.message) for w in record)
    assert "OP3 output_level = 120 is outside 0..99; written as is" in text
    assert "OP2 coarse = 40 is outside 0..31; clamped to 31" in text
    assert "OP4 eg_rates[1] = -5 is outside 0..99; clamped to 0" in text
    assert "transpose = 60 is outside 0..48; written as is" in text
    assert packed[3 * 17 + 14] == 120  # OP3 block is the fourth from OP6
    assert packed[4 * 17 + 15] >> 1 == 31  # OP2 coarse
    assert packed[117] == 60

    with pytest.warns(DX7RangeWarning) as record:
        clamped = voice.clamped()
    assert len(record) == 4
    assert clamped.operator(3).output_level == 99 and clamped.operator(2).coarse == 31
    assert clamped.operator(4).eg_rates[1] == 0 and clamped.transpose == 48
    assert clamped.range_violations() == []
    assert voice.operator(3).output_level == 120  # the original is untouched
    with _no_warnings():
        clamped.to_packed()


def test_algorithm_is_one_based_and_clamped_when_unstorable():
    for number in (1, 17, 32):
        voice = Voice(algorithm=number)
        assert voice.to_vced()[134] == number - 1
        assert Voice.from_packed(voice.to_packed()).algorithm == number
    with pytest.warns(DX7RangeWarning, match="algorithm = 0 is outside 1..32; clamped to 1"):
        assert Voice(algorithm=0).to_vced()[134] == 0
    with pytest.warns(DX7RangeWarning, match="algorithm = 33 is outside 1..32; clamped to 32"):
        assert Voice(algorithm=33).to_vced()[134] == 31


def test_reading_with_clamp_true_clamps_and_says_so():
    data = bytearray(Voice().to_vced())
    data[0] = 127  # OP6 R1, storable but out of range
    data[105 + 20] = 30  # OP1 detune: VCED byte larger than the 4-bit bank field
    with pytest.warns(DX7RangeWarning) as record:
        kept = Voice.from_vced(bytes(data), source="test.syx")
    text = " | ".join(str(w.message) for w in record)
    assert "test.syx" in text
    assert "OP6 eg_rates[0] = 127 is outside 0..99; kept as stored" in text
    assert "OP1 detune = 30 is outside 0..14; clamped to 14" in text
    assert kept.operator(6).eg_rates[0] == 127 and kept.operator(1).detune == 14
    with pytest.warns(DX7RangeWarning) as record:
        clamped = Voice.from_vced(bytes(data), clamp=True)
    text = " | ".join(str(w.message) for w in record)
    assert "OP6 eg_rates[0] = 127 is outside 0..99; clamped to 99" in text
    assert "OP1 detune = 30 is outside 0..14; clamped to 14" in text
    assert clamped.operator(6).eg_rates[0] == 99


def test_wrong_types_and_shapes_are_rejected_with_the_parameter_named():
    voice = Voice()
    voice.operator(2).fine = 12.5
    with pytest.raises(TypeError, match="OP2 fine must be an int"):
        voice.to_vced()
    voice = Voice()
    voice.operator(5).eg_levels = [99, 99, 99]
    with pytest.raises(ValueError, match="OP5 eg_levels must be a list of 4"):
        voice.to_packed()
    voice = Voice()
    voice.operators = voice.operators[:5]
    with pytest.raises(ValueError, match="operators must be a list of 6"):
        voice.to_vced()
    with pytest.raises(TypeError, match="name must be a str"):
        Voice(name=5).to_vced()


def test_names_are_padded_truncated_and_ascii():
    assert Voice(name="SHORT").to_vced()[145:] == b"SHORT     "
    voice = read_syx(LOCAL_ROM1A)[3]
    voice.name = "RENAMED"
    assert voice.name == "RENAMED   " and voice.display_name == "RENAMED"
    assert read_syx(voice_bytes(voice)) == [voice]
    with pytest.warns(DX7RangeWarning, match="longer than 10"):
        assert Voice(name="A VERY LONG NAME").to_vced()[145:] == b"A VERY LON"
    with pytest.warns(DX7RangeWarning, match="non-ASCII"):
        assert Voice(name="CAFÉ").to_vced()[145:] == b"CAF       "


def test_from_dict_rejects_missing_unknown_and_misordered_keys():
    good = Voice().to_dict()
    missing = dict(good)
    del missing["feedback"]
    with pytest.raises(ValueError, match="missing keys \\['feedback'\\]"):
        Voice.from_dict(missing)
    with pytest.raises(ValueError, match="unknown keys \\['feedbak'\\]"):
        Voice.from_dict({**good, "feedbak": 3})
    reordered = json.loads(json.dumps(good))
    reordered["operators"].reverse()
    with pytest.raises(ValueError, match="expected 1"):
        Voice.from_dict(reordered)
    out_of_range = json.loads(json.dumps(good))
    out_of_range["operators"][0]["output_level"] = 150
    with pytest.warns(DX7RangeWarning, match="OP1 output_level = 150 is outside 0..99; clamped to 99"):
        assert Voice.from_dict(out_of_range).operator(1).output_level == 99


def test_parameter_table_covers_every_field():
    operator_fields = {name for name, r in PARAMETER_RANGES.items() if r.scope == "operator"}
    voice_fields = {name for name, r in PARAMETER_RANGES.items() if r.scope == "voice"}
    assert operator_fields == set(Operator().__dataclass_fields__)
    assert voice_fields == set(Voice().__dataclass_fields__) - {"operators", "name"}
    for name, rng in PARAMETER_RANGES.items():
        assert rng.low <= rng.high <= rng.storable_high <= 127, name


def test_frequency_helpers():
    assert Operator(coarse=0, fine=0).frequency_ratio == 0.5
    assert Operator(coarse=2, fine=50).frequency_ratio == pytest.approx(3.0)
    assert Operator(fixed_frequency=True, coarse=2, fine=0).fixed_frequency_hz == pytest.approx(100.0)
    # coarse counts modulo 4 in fixed mode: 5 -> decade 10 Hz.
    assert Operator(fixed_frequency=True, coarse=5, fine=50).fixed_frequency_hz == pytest.approx(10 ** 1.5)
    assert Operator(fixed_frequency=True, coarse=3, fine=99).frequency_hz(440.0) == pytest.approx(10 ** 3.99)
    assert Operator(coarse=3).frequency_hz(440.0) == pytest.approx(1320.0)
    assert Operator(detune=3).detune_steps == -4 and Operator(breakpoint=39).breakpoint_note == 60
