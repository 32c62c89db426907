"""Every reader on the real files in ../shared/data, plus the table formats on small files."""

import io
import json

import pytest
from conftest import SEMEVAL, SST, TWEETEVAL

from hbilstm.data.readers import (
    decode_semeval_text,
    read_semeval,
    read_sst,
    read_table,
    read_tweeteval,
    read_tweeteval_mapping,
)
from hbilstm.data.rows import iter_records
from hbilstm.errors import DataError


def test_tweeteval_splits_have_the_documented_sizes_and_labels():
    names = read_tweeteval_mapping(TWEETEVAL)
    assert names == ["negative", "neutral", "positive"]
    sizes = {split: len(read_tweeteval(TWEETEVAL, split, names)) for split in ("train", "val", "test")}
    assert sizes == {"train": 47571, "val": 2000, "test": 12284}
    test = read_tweeteval(TWEETEVAL, "test", names)
    # README: test is 32% negative, 48% neutral, 19% positive
    share = {n: test.labels.count(n) / len(test) for n in names}
    assert share["negative"] == pytest.approx(0.32, abs=0.01)
    assert share["positive"] == pytest.approx(0.19, abs=0.01)
    first = (TWEETEVAL / "test_text.txt").read_text(encoding="utf-8").split("\n")[0]
    assert test.texts[0] == first


def test_tweeteval_misaligned_files_are_refused(tmp_path):
    (tmp_path / "mapping.txt").write_text("0\tnegative\n1\tpositive\n")
    (tmp_path / "train_text.txt").write_text("a\nb\n")
    (tmp_path / "train_labels.txt").write_text("0\n")
    with pytest.raises(DataError, match="2 lines but .* has 1"):
        read_tweeteval(tmp_path, "train")
    (tmp_path / "train_labels.txt").write_text("0\n7\n")
    with pytest.raises(DataError, match=r"train_labels.txt:2: label '7'"):
        read_tweeteval(tmp_path, "train")


def test_semeval_files_decode_escapes_and_read_every_row():
    train = read_semeval(SEMEVAL / "twitter-2013train-A.txt")
    assert len(train) == 9684
    assert set(train.labels) == {"negative", "neutral", "positive"}
    assert train.ids[0] == "264183816548130816"
    assert train.texts[0] == "Gas by my house hit $3.39!!!! I\u2019m going to Chapel Hill on Sat. :)"
    assert not any("\\u" in t for t in train.texts)


def test_semeval_quoted_fields_span_lines_and_trailing_tabs_are_ignored():
    test = read_semeval(SEMEVAL / "twitter-2016test-A.txt")
    # 20,633 physical lines, one of them the continuation of a quoted tweet
    assert len(test) == 20632
    assert test.labels.count("negative") == 3231
    at = test.ids.index("638435681832960000")
    assert test.texts[at].startswith("@SkyNews: Kanye West")
    assert test.texts[at].endswith("Female President!")  # the quote closed on the next line
    assert test.ids[at + 1] == "638436159790653440"
    quoted = test.texts[test.ids.index("619994586182619136")]
    assert quoted.startswith('Excited to read "Go Set a Watchman"')


def test_semeval_sms_file_with_two_id_columns():
    sms = read_semeval(SEMEVAL / "sms-2013test-A.tsv")
    assert len(sms) == 2094
    assert sms.labels.count("neutral") == 1208
    assert sms.texts[0].startswith("Yes i am going from school")


def test_decode_semeval_text_joins_surrogate_pairs():
    assert decode_semeval_text("I\\u2019m \\ud83d\\ude00 ok\\u002c yes") == "I\u2019m \U0001F600 ok, yes"


@pytest.mark.parametrize("binary,size,labels", [
    (False, 2210, {"very negative", "negative", "neutral", "positive", "very positive"}),
    (True, 1821, {"negative", "positive"}),
])
def test_sst_five_class_and_binary(binary, size, labels):
    test = read_sst(SST / "raw.clean.test", binary=binary)
    assert len(test) == size
    assert set(test.labels) == labels
    assert " ||| " not in test.texts[0]


def test_sst_bad_line_names_its_number(tmp_path):
    path = tmp_path / "raw.clean.train"
    path.write_text("good film ||| 4\nno label here\n")
    with pytest.raises(DataError, match=r"raw.clean.train:2"):
        read_sst(path)


def test_csv_tsv_and_jsonl_tables_with_configurable_columns(tmp_path):
    rows = [("7", 'hello, "world"\nsecond line', "positive"), ("8", "meh", "neutral")]
    csv_path = tmp_path / "d.csv"
    csv_path.write_text('tweet_id,body,y\n7,"hello, ""world""\nsecond line",positive\n8,meh,neutral\n')
    tsv_path = tmp_path / "d.tsv"
    tsv_path.write_text("tweet_id\tbody\ty\n7\t\"hello, \"\"world\"\"\nsecond line\"\tpositive\n8\tmeh\tneutral\n")
    jsonl_path = tmp_path / "d.jsonl"
    jsonl_path.write_text("".join(json.dumps({"tweet_id": i, "body": t, "y": y}) + "\n" for i, t, y in rows))
    for path in (csv_path, tsv_path, jsonl_path):
        table = read_table(path, text_column="body", label_column="y", id_column="tweet_id")
        assert table.texts == [r[1] for r in rows], path
        assert table.labels == ["positive", "neutral"]
        assert table.ids == ["7", "8"]


def test_table_missing_column_is_named(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("id,body\n1,hi\n")
    with pytest.raises(DataError, match=r"no column 'text' \(columns: id, body\); the option text_column names "
                                        r"the column to read \(--set text_column=NAME\)"):
        read_table(path)
    with pytest.raises(DataError, match=r"no column 'label' \(columns: id, body\); the option label_column names"):
        read_table(path, text_column="body")
    lines = tmp_path / "d.jsonl"
    lines.write_text('{"body": "hi", "label": "positive"}\n')
    with pytest.raises(DataError, match=r"d.jsonl:1: no field 'text'; the option text_column names the column"):
        read_table(lines)


def test_text_records_split_on_lf_crlf_and_lone_cr_but_not_unicode_separators():
    data = "one\r\ntwo\rthree\nfour\u2028still four\n".encode()
    records = list(iter_records(io.BytesIO(data), "txt", "x"))
    assert [r.fields["text"] for r in records] == ["one", "two", "three", "four\u2028still four"]
    assert [r.line for r in records] == [1, 2, 3, 4]


def test_jsonl_malformed_line_is_named_or_kept_as_an_error_row():
    data = b'{"text": "a"}\n{oops\n{"text": "c"}\n'
    with pytest.raises(DataError, match=r"x:2: malformed JSON"):
        list(iter_records(io.BytesIO(data), "jsonl", "x"))
    records = list(iter_records(io.BytesIO(data), "jsonl", "x", skip_bad_lines=True))
    assert [r.error is None for r in records] == [True, False, True]
    assert [r.line for r in records] == [1, 2, 3]
