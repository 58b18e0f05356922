"""middlewares.config.load(): TOML files and mappings to a checked, running stack."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from middlewares.config import REGISTRY, ConfigError, load, resolve
from middlewares.stack import Stack
from tests import config_layers
from tests.config_layers import Loose, Tagger
from tests.wsgi_helpers import drive

TAGGER = "tests.config_layers:Tagger"
ECHO = "tests.config_layers:echo"


def body(app: Any) -> bytes:
    result = drive(app)
    assert result.status == "200 OK"
    return result.body


def write(tmp_path: Path, text: str, name: str = "stack.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def layer_of(app: Stack, depth: int) -> Any:
    """The constructed middleware ``depth`` layers in (0 is the outermost)."""
    current: Any = app._outer
    for _ in range(depth):
        current = current.app
    return current


# --- building ------------------------------------------------------------------------------


def test_mapping_builds_a_stack_whose_first_layer_is_outermost() -> None:
    app = load(
        {
            "app": ECHO,
            "middleware": [{"use": TAGGER, "tag": "outer"}, {"use": TAGGER, "tag": "inner"}],
        }
    )
    assert isinstance(app, Stack)
    assert body(app) == b"outer,inner"
    assert app.app is config_layers.echo
    assert repr(app) == "<Stack Tagger(tag='outer') -> Tagger(tag='inner') -> echo>"


def test_toml_file_builds_the_same_stack_as_the_mapping(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"""
        app = "{ECHO}"

        [[middleware]]
        use = "{TAGGER}"
        tag = "outer"

        [[middleware]]
        use = "{TAGGER}"
        tag = "inner"
        times = 2
        """,
    )
    assert body(load(path)) == b"outer,inner,inner"
    assert body(load(str(path))) == b"outer,inner,inner"


def test_no_middleware_is_the_app_alone() -> None:
    assert body(load({"app": ECHO})) == b""


def test_app_and_use_may_be_python_objects_in_a_mapping() -> None:
    app = load({"app": config_layers.echo, "middleware": [{"use": Tagger, "tag": "x"}]})
    assert body(app) == b"x"


def test_a_function_returning_a_layer_is_a_use() -> None:
    app = load({"app": ECHO, "middleware": [{"use": "tests.config_layers:tagging", "tag": "f"}]})
    assert body(app) == b"f"


def test_every_short_name_is_a_lazy_import_string_of_this_package() -> None:
    assert set(REGISTRY) == {
        "proxy_fix",
        "request_log",
        "cors",
        "compress",
        "static",
        "dispatcher",
        "profiler",
    }
    for target in REGISTRY.values():
        assert re.fullmatch(r"middlewares\.[a-z_]+:[A-Za-z]+", target)


# --- typed options ------------------------------------------------------------------------


def test_typed_values_are_converted_to_the_annotation() -> None:
    app = load(
        {
            "app": ECHO,
            "middleware": [
                {
                    "use": TAGGER,
                    "ratio": 2,  # an int where a float is expected: lossless
                    "names": ["a", "b"],
                    "pair": [1, 2],  # a TOML array where a tuple is expected
                    "headers": {"X-A": "1"},
                    "mode": "fast",
                    "limit": 5,
                    "enabled": False,
                }
            ],
        }
    )
    tagger = layer_of(app, 0)
    assert tagger.ratio == 2.0
    assert isinstance(tagger.ratio, float)
    assert tagger.names == ["a", "b"]
    assert tagger.pair == (1, 2)
    assert tagger.headers == {"X-A": "1"}
    assert (tagger.mode, tagger.limit, tagger.enabled) == ("fast", 5, False)


def test_module_attribute_strings_are_imported_where_an_app_is_expected() -> None:
    app = load(
        {
            "app": ECHO,
            "middleware": [
                {"use": TAGGER, "fallback": "tests.config_layers:other", "mounts": {"/o": ECHO}}
            ],
        }
    )
    tagger = layer_of(app, 0)
    assert tagger.fallback is config_layers.other
    assert tagger.mounts == {"/o": config_layers.echo}


def test_options_of_a_class_taking_any_keyword_pass_through() -> None:
    app = load({"app": ECHO, "middleware": [{"use": Loose, "level": 3, "colour": "blue"}]})
    loose = layer_of(app, 0)
    assert (loose.level, loose.options) == (3, {"colour": "blue"})


# --- environment ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "environ", "expected"),
    [
        pytest.param("${TAG}", {"TAG": "env"}, "env", id="set"),
        pytest.param("${TAG:-dflt}", {}, "dflt", id="default-when-unset"),
        pytest.param("${TAG:-dflt}", {"TAG": ""}, "dflt", id="default-when-empty"),
        pytest.param("${TAG:-dflt}", {"TAG": "env"}, "env", id="set-beats-default"),
        pytest.param("a-${TAG}-b", {"TAG": "x"}, "a-x-b", id="inside-a-string"),
        pytest.param("$${TAG}", {"TAG": "x"}, "${TAG}", id="dollar-dollar-is-literal"),
        pytest.param("${TAG:-}", {}, "", id="empty-default"),
    ],
)
def test_environment_variables_expand_in_strings(
    value: str, environ: dict[str, str], expected: str
) -> None:
    app = load({"app": ECHO, "middleware": [{"use": TAGGER, "tag": value}]}, environ)
    assert layer_of(app, 0).tag == expected


def test_environment_values_are_coerced_to_the_option_type() -> None:
    config = {
        "app": "${APP:-tests.config_layers:echo}",
        "middleware": [
            {"use": TAGGER, "times": "${TIMES}", "enabled": "${ON:-no}", "names": ["${NAME}", "z"]}
        ],
    }
    app = load(config, {"TIMES": "3", "NAME": "y"})
    tagger = layer_of(app, 0)
    assert (tagger.times, tagger.enabled, tagger.names) == (3, False, ["y", "z"])
    assert body(app) == b"t,t,t"


def test_config_dir_is_the_directory_of_the_file(tmp_path: Path) -> None:
    path = write(
        tmp_path, f'app = "{ECHO}"\n[[middleware]]\nuse = "{TAGGER}"\ntag = "${{CONFIG_DIR}}"'
    )
    assert layer_of(load(path, {}), 0).tag == str(tmp_path)


def test_an_unset_variable_without_default_names_the_option() -> None:
    with pytest.raises(ConfigError) as error:
        load({"app": ECHO, "middleware": [{"use": TAGGER, "tag": "${NOPE}"}]}, {})
    message = str(error.value)
    assert "layer 1" in message
    assert "'tag'" in message
    assert "NOPE is not set" in message


def test_an_environment_value_of_the_wrong_type_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r"option 'times': expected int, got 'many'"):
        load({"app": ECHO, "middleware": [{"use": TAGGER, "times": "${T}"}]}, {"T": "many"})


# --- errors name the file, the layer, the option and what was expected --------------------


def error_of(config: Any, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as error:
        load(config, environ or {})
    return str(error.value)


def test_wrong_type_names_file_layer_use_option_and_expected(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f'app = "{ECHO}"\n[[middleware]]\nuse = "{TAGGER}"\n[[middleware]]\nuse = "{TAGGER}"\n'
        'times = "two"\n',
    )
    assert error_of(path) == (
        f"{path}: layer 2 (use = '{TAGGER}'): option 'times': expected int, got 'two' (str)"
    )


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        pytest.param("times", True, "expected int, got True (bool)", id="bool-is-not-int"),
        pytest.param("ratio", "1.5", "expected float, got '1.5' (str)", id="str-is-not-float"),
        pytest.param("names", "a,b", "expected list of str", id="str-is-not-list"),
        pytest.param(
            "names", ["a", 1], "expected list of str; item 2: expected str, got 1", id="item-type"
        ),
        pytest.param("pair", [1, 2, 3], "expected 2 items, got 3", id="tuple-length"),
        pytest.param("mode", "slow", "expected one of 'fast', 'safe'", id="literal"),
        pytest.param("limit", "5", "expected int or None, got '5'", id="optional"),
        pytest.param("headers", ["a"], "expected table of str to str or None", id="mapping"),
        pytest.param("fallback", 3, "expected a callable", id="callable"),
    ],
)
def test_wrong_types_say_what_was_expected(option: str, value: Any, expected: str) -> None:
    message = error_of({"app": ECHO, "middleware": [{"use": TAGGER, option: value}]})
    assert message.startswith(f"<config>: layer 1 (use = '{TAGGER}'): option '{option}': ")
    assert expected in message


def test_unknown_option_suggests_the_close_one_and_lists_the_others() -> None:
    message = error_of({"app": ECHO, "middleware": [{"use": TAGGER, "tgg": "x"}]})
    assert "option 'tgg': unknown option; did you mean 'tag'?" in message
    assert "Tagger takes: tag, times, ratio" in message


def test_unknown_short_name_suggests_the_close_one() -> None:
    message = error_of({"app": ECHO, "middleware": [{"use": "prox_fix"}]})
    assert message.startswith("<config>: layer 1 (use = 'prox_fix'): unknown middleware; ")
    assert "did you mean 'proxy_fix'?" in message


def test_an_import_that_fails_carries_the_import_error() -> None:
    message = error_of({"app": ECHO, "middleware": [{"use": TAGGER}, {"use": "no_such.mod:X"}]})
    assert message == (
        "<config>: layer 2 (use = 'no_such.mod:X'): cannot import 'no_such.mod:X': "
        "ModuleNotFoundError: No module named 'no_such'"
    )


def test_a_missing_attribute_is_an_import_error() -> None:
    message = error_of({"app": "tests.config_layers:nothing"})
    assert message.startswith("<config>: app: cannot import 'tests.config_layers:nothing': ")
    assert "AttributeError" in message


def test_missing_app_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, f'[[middleware]]\nuse = "{TAGGER}"\n')
    assert error_of(path) == f'{path}: missing app = "module:attribute" (the WSGI application)'


def test_app_that_is_not_module_attribute_is_an_error() -> None:
    message = error_of({"app": "echo"})
    assert message == "<config>: app: expected a callable or \"module:attribute\", got 'echo' (str)"


def test_app_that_is_not_callable_is_an_error() -> None:
    # Accepted, every request would fail calling it; its value is not shown (it may be a key).
    message = error_of({"app": "tests.wsgi_helpers:HELLO"})
    assert message == "<config>: app: 'tests.wsgi_helpers:HELLO' is not callable: its type is bytes"


def test_an_app_option_that_is_not_callable_is_an_error() -> None:
    # fallback is `WSGIApplication | None`: the union's message says what each arm expects.
    message = error_of(
        {"app": ECHO, "middleware": [{"use": TAGGER, "fallback": "tests.wsgi_helpers:HELLO"}]}
    )
    assert message.startswith(
        f"<config>: layer 1 (use = '{TAGGER}'): option 'fallback': expected a callable"
    )


def test_missing_use_names_the_layer() -> None:
    message = error_of({"app": ECHO, "middleware": [{"tag": "x"}]})
    assert message == '<config>: layer 1: missing use = "short_name" or "module:Class"'


def test_required_option_missing_is_an_error() -> None:
    message = error_of({"app": ECHO, "middleware": [{"use": "tests.config_layers:Needy"}]})
    assert message.endswith("option 'secret' is required")


def test_constructor_rejection_names_the_layer() -> None:
    message = error_of({"app": ECHO, "middleware": [{"use": TAGGER}, {"use": TAGGER, "times": 0}]})
    assert message == (
        f"<config>: layer 2 (use = '{TAGGER}'): ValueError: times must be at least 1, got 0"
    )


def forgot_to_return(app: Any, *, level: int = 1) -> None:
    """A layer factory with the classic bug: it builds the wrapper but does not return it."""


def test_a_layer_returning_a_non_callable_names_the_layer() -> None:
    message = error_of({"app": ECHO, "middleware": [{"use": TAGGER}, {"use": forgot_to_return}]})
    assert message == (
        "<config>: layer 2 (use = 'forgot_to_return'): returned None, which is not a WSGI "
        "callable; a layer takes the app it wraps and returns an app"
    )


def test_unknown_top_level_key_is_an_error() -> None:
    assert "unknown top-level key 'middlewares'" in error_of({"app": ECHO, "middlewares": []})


def test_middleware_must_be_a_list_of_tables() -> None:
    assert "middleware must be a list of tables" in error_of({"app": ECHO, "middleware": {}})


def test_toml_syntax_error_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "app = \n")
    assert error_of(path).startswith(f"{path}: ")


def test_a_file_that_is_not_utf8_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "stack.toml"
    path.write_bytes(f'app = "{ECHO}"\n# caf\xe9\n'.encode("latin-1"))  # TOML is UTF-8 only
    assert error_of(path) == f"{path}: not UTF-8, which TOML requires: byte 0xe9 at offset 38"


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    assert str(tmp_path / "nope.toml") in error_of(tmp_path / "nope.toml")


def test_config_error_is_a_value_error() -> None:
    assert issubclass(ConfigError, ValueError)


# --- resolve() and describe(): what `middlewares check` prints -----------------------------


def test_describe_lists_layers_outermost_first_with_effective_options() -> None:
    config = resolve(
        {"app": ECHO, "middleware": [{"use": TAGGER, "tag": "a"}, {"use": Loose, "x": 1}]}, {}
    )
    text = config.describe()
    lines = text.splitlines()
    assert lines[0] == "<config>: 2 layers, outermost first"
    assert lines[1] == f"  1. {TAGGER} (Tagger)"
    assert "       tag = 'a'" in lines
    assert "       times = 1" in lines  # a default, shown as in effect
    assert lines.index("       tag = 'a'") < text.splitlines().index("  2. Loose (Loose)")
    assert "       x = 1" in lines
    assert lines[-1] == f"  app: {ECHO}"


def test_resolve_constructs_nothing_until_build() -> None:
    config = resolve({"app": ECHO, "middleware": [{"use": TAGGER, "times": 0}]}, {})
    assert config.layers[0].options == {"times": 0}
    with pytest.raises(ConfigError, match="times must be at least 1"):
        config.build()


def test_describe_masks_secrets_and_names_apps() -> None:
    config = resolve(
        {
            "app": ECHO,
            "middleware": [
                {"use": Loose, "viewer_token": "s3cr3t-value", "client_secret": "x"},
                {"use": TAGGER, "fallback": "tests.config_layers:other", "names": ["b", "a"]},
            ],
        },
        {},
    )
    text = config.describe()
    assert "s3cr3t" not in text
    assert "       viewer_token = '***'" in text.splitlines()
    assert "       client_secret = '***'" in text.splitlines()
    assert "       fallback = tests.config_layers:other" in text.splitlines()
    assert "       names = ['b', 'a']" in text.splitlines()


def test_describe_shows_a_secret_looking_flag() -> None:
    # allow_credentials matches the secret pattern, but a boolean is no secret and matters.
    config = resolve(
        {
            "app": ECHO,
            "middleware": [
                {"use": "cors", "allow_origins": ["https://a.example"], "allow_credentials": True}
            ],
        },
        {},
    )
    assert "       allow_credentials = True" in config.describe().splitlines()


def test_repr_of_a_loaded_stack_masks_secrets() -> None:
    # The layers are partials of the options: repr() shows them as `check` does, token masked.
    token = "s3cret-token-0123456789"
    app = load(
        {
            "app": ECHO,
            "middleware": [
                {"use": "profiler", "trigger": "X-Profile", "viewer_token": token, "sample_rate": 0}
            ],
        },
        {},
    )
    assert repr(app) == (
        "<Stack Profiler(trigger='X-Profile', viewer_token='***', sample_rate=0.0) -> echo>"
    )


@pytest.mark.parametrize("short_name", list(REGISTRY))
def test_every_short_name_imports_its_middleware_and_reads_its_signature(short_name: str) -> None:
    config = resolve({"app": ECHO, "middleware": [{"use": short_name}]}, {})
    layer = config.layers[0]
    assert (
        f"middlewares.{layer.factory.__module__.rsplit('.', 1)[1]}:{layer.factory.__name__}"
        == (REGISTRY[short_name])
    )
    assert layer.effective  # every middleware has keyword options with defaults


def test_describe_says_one_layer_in_the_singular() -> None:
    config = resolve({"app": ECHO, "middleware": [{"use": TAGGER, "tag": "a"}]}, {})
    assert config.describe().splitlines()[0] == "<config>: 1 layer, outermost first"
