"""What each purpose (call.context["purpose"]: images by default, training, captions...) plugs
into the call machinery: how its stored inputs become the provider task, what is done with its
results, and what is kept of what it shows while it runs. Apps register theirs when ready."""

from collections.abc import Callable

from ..models import ProviderCall
from ..providers.base import Output

# Run when a call's results are in: purpose → handler(call, outputs).
OutputHandler = Callable[[ProviderCall, list[Output]], None]
_output_handlers: dict[str, OutputHandler] = {}
# Turn a call's stored inputs into the provider task (resolving our file references to URLs).
TaskBuilder = Callable[[ProviderCall], object]
_task_builders: dict[str, TaskBuilder] = {}
# Keep what a running call shows on the way (training samples): purpose → handler(call, samples).
_sample_handlers: dict[str, Callable] = {}


def register_output_handler(purpose: str, handler: OutputHandler) -> None:
    _output_handlers[purpose] = handler


def register_task_builder(purpose: str, builder: TaskBuilder) -> None:
    _task_builders[purpose] = builder


def register_sample_handler(purpose: str, handler: Callable[[ProviderCall, list], None]) -> None:
    """`handler(call, samples)` keeps the images a call shows while it runs (training
    samples); it is called after the poll's transaction, and must be idempotent."""
    _sample_handlers[purpose] = handler


def _purpose(call: ProviderCall) -> str:
    return call.context.get("purpose", "images")


def task_for(call: ProviderCall) -> object:
    """The provider task a call's stored inputs stand for."""
    return _task_builders[_purpose(call)](call)


def handle_outputs(call: ProviderCall, outputs: list[Output]) -> None:
    """Hand a call's fetched results to its purpose's handler."""
    _output_handlers[_purpose(call)](call, outputs)


def sample_handler_for(call: ProviderCall) -> Callable | None:
    """What keeps the samples a running call of this purpose shows, if anything does."""
    return _sample_handlers.get(_purpose(call))
