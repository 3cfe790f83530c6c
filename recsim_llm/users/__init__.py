"""The user model: hidden state arrays, the dynamics and the choice model (pure functions).

Who the users are -- their text personas and where those come from -- is
:mod:`recsim_llm.personas`.
"""
